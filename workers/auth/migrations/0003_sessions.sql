-- Bearer tokens, stored as the SHA-256 of the token so a database reader cannot use them.
CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY NOT NULL,
  username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_by_user ON sessions (username);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
