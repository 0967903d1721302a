-- One row a user. The seed's scheme (sha256, sha384, sha512) keeps hex(H(password)): that value is
-- password-equivalent — whoever reads it can answer any challenge and log in, without cracking
-- anything. SCRAM (the default) keeps salt, iterations, StoredKey and ServerKey (base64), none of
-- which answers a challenge by itself: a thief must guess the password, paying `iterations` PBKDF2
-- rounds a guess (100,000 from the gateway and the CLI), or also record one exchange (RFC 5802 §9).
CREATE TABLE users (
  username TEXT PRIMARY KEY NOT NULL,
  mechanism TEXT NOT NULL CHECK (mechanism IN ('sha256', 'sha384', 'sha512', 'scram-sha-256')),
  password_hash TEXT,
  salt TEXT,
  iterations INTEGER,
  stored_key TEXT,
  server_key TEXT,
  created_at INTEGER NOT NULL,
  rotated_at INTEGER,
  CHECK (
    (mechanism = 'scram-sha-256' AND password_hash IS NULL AND salt IS NOT NULL AND iterations BETWEEN 4096 AND 100000
      AND stored_key IS NOT NULL AND server_key IS NOT NULL)
    OR (mechanism <> 'scram-sha-256' AND password_hash IS NOT NULL AND salt IS NULL AND iterations IS NULL
      AND stored_key IS NULL AND server_key IS NULL)
  )
) STRICT;
