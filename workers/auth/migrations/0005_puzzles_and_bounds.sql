-- Guessing without lockout (docs/auth.md §2): the per-username failure log and its hard limit go;
-- failures, challenges and registrations become leaky counters that set a puzzle's difficulty.

DROP TABLE login_failures;

-- Leaky counters. key is "challenges" / "registrations" (the whole server) or
-- "<kind>:<first 32 hex of SHA-256(username)>" (failures, user-challenges, user-registrations), so
-- the table does not keep the names asked about. count loses one unit per leak period since
-- updated_at; drained_at is when it reaches zero and the row is deleted. Rows are capped (AUTH_LIMITS).
CREATE TABLE pressure (
  key TEXT PRIMARY KEY NOT NULL,
  count INTEGER NOT NULL CHECK (count >= 0),
  updated_at INTEGER NOT NULL,
  drained_at INTEGER NOT NULL
) STRICT;

CREATE INDEX pressure_by_drain ON pressure (drained_at);

-- Puzzle solutions already used, until their seed expires: a solution buys one challenge or one
-- registration. digest is hex(SHA-256(label ‖ seed ‖ nonce)).
CREATE TABLE spent_puzzles (
  digest TEXT PRIMARY KEY NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX spent_puzzles_by_expiry ON spent_puzzles (expires_at);

-- SCRAM's client nonce (RFC 5802 client-first message); NULL for seed challenges. A SCRAM
-- challenge's whole nonce is client_nonce ‖ nonce.
ALTER TABLE challenges ADD COLUMN client_nonce TEXT;

-- For the per-username cap on live challenges (oldest evicted) and on sessions (oldest evicted).
CREATE INDEX challenges_by_user ON challenges (username, created_at);
CREATE INDEX sessions_by_user_age ON sessions (username, created_at);
