// The authority's table of relay descriptors and their reachability tests, and every query on it.
// Plain functions over SqlStorage, so the Durable Object reads as rules and the tests can inspect
// the same rows.

import { type Descriptor, type ExitPolicy, deploymentHost } from "@shallot/protocol";

export interface RelayRow extends Descriptor {
  host: string;
  lastSeen: number;
  /** When it was last tested (null: never). */
  testedAt: number | null;
  /** Start of its current run of passing tests; null when the last test failed or none ran. */
  runningSince: number | null;
  /** Failed tests in a row. */
  failures: number;
  nextTestAt: number;
  /** Why the last test failed, for the status page. */
  lastFailure: string | null;
}

type RelayRecord = {
  id: string;
  address: string;
  host: string;
  onion_key: string;
  identity_key: string;
  exit_policy: string;
  published: number;
  last_seen: number;
  tested_at: number | null;
  running_since: number | null;
  failures: number;
  next_test_at: number;
  last_failure: string | null;
};

export function createTables(sql: SqlStorage): void {
  // The single directory's tables, from before there were authorities.
  sql.exec("DROP TABLE IF EXISTS relays");
  sql.exec("DROP TABLE IF EXISTS consensus_cache");
  sql.exec(`CREATE TABLE IF NOT EXISTS descriptors (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    host TEXT NOT NULL,
    onion_key TEXT NOT NULL,
    identity_key TEXT NOT NULL,
    exit_policy TEXT NOT NULL,
    published INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    tested_at INTEGER,
    running_since INTEGER,
    failures INTEGER NOT NULL DEFAULT 0,
    next_test_at INTEGER NOT NULL,
    last_failure TEXT
  )`);
  sql.exec("CREATE INDEX IF NOT EXISTS descriptors_by_last_seen ON descriptors (last_seen)");
  sql.exec("CREATE INDEX IF NOT EXISTS descriptors_by_next_test ON descriptors (next_test_at)");
  sql.exec("CREATE INDEX IF NOT EXISTS descriptors_by_host ON descriptors (host, running_since)");
  // A retired relay's descriptors published up to `at` must not bring it back when replayed.
  sql.exec("CREATE TABLE IF NOT EXISTS retirements (id TEXT PRIMARY KEY, at INTEGER NOT NULL)");
}

const toRow = (r: RelayRecord): RelayRow => ({
  id: r.id,
  address: r.address,
  host: r.host,
  onionKey: r.onion_key,
  identityKey: r.identity_key,
  exitPolicy: r.exit_policy as ExitPolicy,
  published: r.published,
  lastSeen: r.last_seen,
  testedAt: r.tested_at,
  runningSince: r.running_since,
  failures: r.failures,
  nextTestAt: r.next_test_at,
  lastFailure: r.last_failure,
});

export function getRelay(sql: SqlStorage, id: string): RelayRow | null {
  const [record] = sql.exec<RelayRecord>("SELECT * FROM descriptors WHERE id = ?", id).toArray();
  return record ? toRow(record) : null;
}

/** Sorted by id. */
export const listRelays = (sql: SqlStorage): RelayRow[] => sql.exec<RelayRecord>("SELECT * FROM descriptors ORDER BY id").toArray().map(toRow);

export const countRelays = (sql: SqlStorage): number => Number(sql.exec("SELECT COUNT(*) AS n FROM descriptors").one().n);

/** The relays that passed their last test, longest up first: the candidates for a vote. */
export const runningRelays = (sql: SqlStorage): RelayRow[] =>
  sql.exec<RelayRecord>("SELECT * FROM descriptors WHERE running_since IS NOT NULL ORDER BY running_since, id").toArray().map(toRow);

/** Relays whose test is due, never tested first, then the longest overdue. */
export const dueRelays = (sql: SqlStorage, now: number, limit: number): RelayRow[] =>
  sql.exec<RelayRecord>("SELECT * FROM descriptors WHERE next_test_at <= ? ORDER BY tested_at IS NOT NULL, next_test_at LIMIT ?", now, limit).toArray().map(toRow);

/** A host is proven once one of its relays passed a test: its relays are tested in their own lane. */
export const isProvenHost = (sql: SqlStorage, host: string): boolean =>
  sql.exec("SELECT 1 FROM descriptors WHERE host = ? AND running_since IS NOT NULL LIMIT 1", host).toArray().length > 0;

/**
 * Stores a new descriptor, or a changed one of a known relay, as untested: its test is due now
 * and it is voted for only after it passes.
 */
export function insertUntested(sql: SqlStorage, d: Descriptor, now: number): void {
  sql.exec(
    `INSERT INTO descriptors (id, address, host, onion_key, identity_key, exit_policy, published, last_seen, tested_at, running_since, failures, next_test_at, last_failure)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, 0, ?, NULL)
     ON CONFLICT (id) DO UPDATE SET address = excluded.address, host = excluded.host, onion_key = excluded.onion_key,
       identity_key = excluded.identity_key, exit_policy = excluded.exit_policy, published = excluded.published,
       last_seen = excluded.last_seen, tested_at = NULL, running_since = NULL, failures = 0, next_test_at = excluded.next_test_at, last_failure = NULL`,
    d.id, d.address, deploymentHost(d.address), d.onionKey, d.identityKey, d.exitPolicy, d.published, now, now,
  );
}

/** A test starts: nothing else starts one for this relay until it ends or its deadline passes. */
export function leaseTest(sql: SqlStorage, id: string, until: number): void {
  sql.exec("UPDATE descriptors SET next_test_at = ? WHERE id = ?", until, id);
}

/** A ping: the same descriptor, signed again. */
export function touchRelay(sql: SqlStorage, id: string, published: number, now: number): void {
  sql.exec("UPDATE descriptors SET published = ?, last_seen = ? WHERE id = ?", published, now, id);
}

/**
 * Records a test of the descriptor `tested` (ignored when the relay has changed since). A pass
 * keeps or starts its run of passes; a failure ends it, and the next test comes sooner for a relay
 * that was running (it may recover) than for one that never passed (backing off to `retestMs`).
 */
export function recordTest(sql: SqlStorage, tested: Descriptor, passed: boolean, reason: string | null, now: number, retestMs: number): void {
  const row = getRelay(sql, tested.id);
  if (!row || row.address !== tested.address || row.onionKey !== tested.onionKey || row.exitPolicy !== tested.exitPolicy) return;
  if (passed) {
    sql.exec(
      "UPDATE descriptors SET tested_at = ?, running_since = coalesce(running_since, ?), failures = 0, next_test_at = ?, last_failure = NULL WHERE id = ?",
      now, now, now + retestMs, tested.id,
    );
    return;
  }
  const failures = row.failures + 1;
  const backoff = Math.min(retestMs, 10_000 * 2 ** Math.min(failures - 1, 16));
  sql.exec("UPDATE descriptors SET tested_at = ?, running_since = NULL, failures = ?, next_test_at = ?, last_failure = ? WHERE id = ?", now, failures, now + backoff, reason, tested.id);
}

/** When the table is full, a new descriptor takes the place of one that never passed a test (the most failed, then the oldest). */
export function evictUnproven(sql: SqlStorage): boolean {
  const [victim] = sql.exec<{ id: string }>("SELECT id FROM descriptors WHERE running_since IS NULL ORDER BY failures DESC, last_seen LIMIT 1").toArray();
  if (!victim) return false;
  deleteRelay(sql, victim.id);
  return true;
}

export function deleteRelay(sql: SqlStorage, id: string): void {
  sql.exec("DELETE FROM descriptors WHERE id = ?", id);
}

export function getRetirement(sql: SqlStorage, id: string): number | null {
  const [record] = sql.exec<{ at: number }>("SELECT at FROM retirements WHERE id = ?", id).toArray();
  return record ? record.at : null;
}

export function recordRetirement(sql: SqlStorage, id: string, at: number): void {
  sql.exec("INSERT INTO retirements (id, at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET at = max(at, excluded.at)", id, at);
}

export function deleteRetirement(sql: SqlStorage, id: string): void {
  sql.exec("DELETE FROM retirements WHERE id = ?", id);
}

/** Deletes relays silent for `ttlMs` and retirements older than `keepMs`; returns how many relays left. */
export function pruneDue(sql: SqlStorage, now: number, ttlMs: number, keepMs: number): number {
  const relays = sql.exec("DELETE FROM descriptors WHERE last_seen + ? <= ?", ttlMs, now).rowsWritten;
  sql.exec("DELETE FROM retirements WHERE at + ? <= ?", keepMs, now);
  return relays;
}

/** The earliest moment something becomes due: a prune, or a test. Null when nothing is stored. */
export function nextDeadline(sql: SqlStorage, ttlMs: number, keepMs: number): number | null {
  // Separate queries: SQLite's scalar min() is NULL as soon as one table is empty.
  const [relay] = sql.exec<{ due: number | null }>("SELECT min(last_seen) + ? AS due FROM descriptors", ttlMs).toArray();
  const [test] = sql.exec<{ due: number | null }>("SELECT min(next_test_at) AS due FROM descriptors").toArray();
  const [retirement] = sql.exec<{ due: number | null }>("SELECT min(at) + ? AS due FROM retirements", keepMs).toArray();
  const due = [relay?.due, test?.due, retirement?.due].filter((d): d is number => typeof d === "number");
  return due.length > 0 ? Math.min(...due) : null;
}
