-- Failed logins per username, for the seed's limit of 5 a minute (a lockout anyone could trigger;
-- 0005 drops this table for puzzles). A login writes its row before the
-- response is checked and deletes it on success, so parallel attempts cannot slip past the limit.
CREATE TABLE login_failures (
  id INTEGER PRIMARY KEY,
  username TEXT NOT NULL,
  attempted_at INTEGER NOT NULL
) STRICT;

CREATE INDEX login_failures_by_user ON login_failures (username, attempted_at);
CREATE INDEX login_failures_by_time ON login_failures (attempted_at);
