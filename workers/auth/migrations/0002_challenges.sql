-- Outstanding challenges, single use: a login deletes its row before checking the response.
-- No foreign key to users: unknown usernames get challenges too, so they look like real ones.
CREATE TABLE challenges (
  id TEXT PRIMARY KEY NOT NULL,
  username TEXT NOT NULL,
  mechanism TEXT NOT NULL,
  nonce TEXT NOT NULL,
  salt TEXT,
  iterations INTEGER,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX challenges_by_expiry ON challenges (expires_at);
