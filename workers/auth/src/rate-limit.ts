// Failed logins per username: at most 5 in any 60 s, then 429 until the oldest one ages out.

export const RATE_LIMIT = { failures: 5, windowMs: 60_000 } as const;

/**
 * Records an attempt as a failure up front, unless the username already has 5 failures in the
 * window; one statement, so parallel logins cannot all pass the check. Returns `{ id }` or no row.
 */
export const reserveAttempt = (db: D1Database, username: string, now: number): D1PreparedStatement =>
  db
    .prepare(
      `INSERT INTO login_failures (username, attempted_at)
       SELECT ?1, ?2 WHERE (SELECT COUNT(*) FROM login_failures WHERE username = ?1 AND attempted_at > ?3) < ?4
       RETURNING id`,
    )
    .bind(username, now, now - RATE_LIMIT.windowMs, RATE_LIMIT.failures);

/** A successful login was not a failure after all. */
export const forgiveAttempt = (db: D1Database, id: number): D1PreparedStatement => db.prepare("DELETE FROM login_failures WHERE id = ?").bind(id);

export const pruneFailures = (db: D1Database, now: number): D1PreparedStatement =>
  db.prepare("DELETE FROM login_failures WHERE attempted_at <= ?").bind(now - RATE_LIMIT.windowMs);

/** Whole seconds until the oldest failure in the window ages out (at least 1). */
export async function retryAfterSeconds(db: D1Database, username: string, now: number): Promise<number> {
  const row = await db
    .prepare("SELECT MIN(attempted_at) AS oldest FROM login_failures WHERE username = ? AND attempted_at > ?")
    .bind(username, now - RATE_LIMIT.windowMs)
    .first<{ oldest: number | null }>();
  const oldest = row?.oldest ?? now;
  return Math.max(1, Math.ceil((oldest + RATE_LIMIT.windowMs - now) / 1000));
}
