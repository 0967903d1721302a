// Leaky counters ("pressure") that price requests instead of refusing them: failed logins and
// challenges per username, challenges and registrations for the whole server. A counter loses one
// unit per leak period; the puzzle a request must solve grows with it (puzzle.ts). The table is
// bounded: drained rows are deleted, and no row is added past maxPressureRows.

import { toHex, utf8 } from "@shallot/protocol";
import type { AuthLimits } from "./env.ts";

export interface Bucket {
  key: string;
  leakMs: number;
  /** The counter never goes above this (so it drains in cap × leakMs at most). */
  cap: number;
}

const hashedName = async (username: string): Promise<string> => toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(username)))).slice(0, 32);

/** The buckets a request for `username` touches; the table keeps a hash of the name, not the name. */
export async function userBuckets(username: string, limits: AuthLimits) {
  const name = await hashedName(username);
  return {
    failures: { key: `failures:${name}`, leakMs: limits.failureLeakMs, cap: 64 },
    challenges: { key: `user-challenges:${name}`, leakMs: limits.userChallengeLeakMs, cap: 256 },
    registrations: { key: `user-registrations:${name}`, leakMs: limits.userRegistrationLeakMs, cap: 64 },
  } satisfies Record<string, Bucket>;
}

export const serverBuckets = (limits: AuthLimits) =>
  ({
    challenges: { key: "challenges", leakMs: limits.challengeLeakMs, cap: limits.challengeCap + 1 },
    registrations: { key: "registrations", leakMs: limits.registrationLeakMs, cap: limits.registrationCap + 1 },
  }) satisfies Record<string, Bucket>;

/**
 * The current counts of `buckets`, in order. A bucket without a row is 0, or Infinity when the
 * table is full (its request would go uncounted, so it is priced as if at the top).
 */
export async function readPressure(db: D1Database, buckets: Bucket[], now: number, maxRows: number): Promise<number[]> {
  const [rows, size] = await db.batch<{ key: string; count: number; updated_at: number } | { n: number }>([
    db.prepare(`SELECT key, count, updated_at FROM pressure WHERE key IN (${buckets.map(() => "?").join(", ")})`).bind(...buckets.map((b) => b.key)),
    db.prepare("SELECT COUNT(*) AS n FROM pressure WHERE drained_at > ?").bind(now),
  ]);
  const found = new Map((rows!.results as { key: string; count: number; updated_at: number }[]).map((row) => [row.key, row]));
  const full = (size!.results[0] as { n: number }).n >= maxRows;
  return buckets.map((bucket) => {
    const row = found.get(bucket.key);
    if (!row) return full ? Number.POSITIVE_INFINITY : 0;
    return Math.max(0, row.count - Math.floor(Math.max(0, now - row.updated_at) / bucket.leakMs));
  });
}

/**
 * Adds one to a counter after leaking it; inserts its row only while the table has room. The leak
 * keeps the part of a period already elapsed (updated_at moves by whole periods), so steady traffic
 * below the leak rate never accumulates.
 */
export function bumpPressure(db: D1Database, bucket: Bucket, now: number, maxRows: number): D1PreparedStatement {
  // ?1 key, ?2 now, ?3 leak, ?4 cap, ?5 max rows (D1 binds numbers as REAL: cast them, so the
  // division below is an integer one). In DO UPDATE every column name is the old value.
  const [now_, leak, cap] = ["CAST(?2 AS INTEGER)", "CAST(?3 AS INTEGER)", "CAST(?4 AS INTEGER)"];
  const periods = `(MAX(0, ${now_} - updated_at) / ${leak})`;
  const left = `(count - ${periods})`;
  const newCount = `MIN(${cap}, MAX(0, ${left}) + 1)`;
  const newUpdated = `(CASE WHEN ${left} > 0 THEN updated_at + ${periods} * ${leak} ELSE ${now_} END)`;
  return db
    .prepare(
      `INSERT INTO pressure (key, count, updated_at, drained_at)
       SELECT ?1, 1, ${now_}, ${now_} + ${leak}
       WHERE EXISTS (SELECT 1 FROM pressure WHERE key = ?1) OR (SELECT COUNT(*) FROM pressure) < ?5
       ON CONFLICT (key) DO UPDATE SET count = ${newCount}, updated_at = ${newUpdated}, drained_at = ${newUpdated} + ${newCount} * ${leak}`,
    )
    .bind(bucket.key, now, bucket.leakMs, bucket.cap, maxRows);
}

export const prunePressure = (db: D1Database, now: number): D1PreparedStatement => db.prepare("DELETE FROM pressure WHERE drained_at <= ?").bind(now);

/** A per-username counter: free below `free`, then powMinBits rising powStepBits a unit, up to powMaxBits. */
export function stepBits(count: number, free: number, limits: AuthLimits): number {
  if (count < free) return 0;
  if (!Number.isFinite(count)) return limits.powMaxBits;
  return Math.min(limits.powMaxBits, limits.powMinBits + limits.powStepBits * (count - free));
}

/** A server-wide counter: free below `free`, then powMinBits rising powStepBits each time the load doubles. */
export function loadBits(count: number, free: number, limits: AuthLimits): number {
  if (count < free) return 0;
  if (!Number.isFinite(count)) return limits.powMaxBits;
  return Math.min(limits.powMaxBits, limits.powMinBits + limits.powStepBits * Math.floor(Math.log2((count + 1) / Math.max(free, 1))));
}
