-- One row a user. Seed mechanisms keep only hex(H(password)), SCRAM keeps salt, iterations,
-- StoredKey and ServerKey (base64): none of them is enough to log in.
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
