// The directory's SQLite tables and every query on them. Plain functions over SqlStorage,
// so the Durable Object reads as rules and the tests can inspect the same rows.

import type { Descriptor, SignedConsensus } from "@shallot/protocol";

export interface RelayRow extends Descriptor {
  lastSeen: number;
}

type RelayRecord = {
  id: string;
  address: string;
  onion_key: string;
  identity_key: string;
  published: number;
  last_seen: number;
};

export function createTables(sql: SqlStorage): void {
  sql.exec(`CREATE TABLE IF NOT EXISTS relays (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    onion_key TEXT NOT NULL,
    identity_key TEXT NOT NULL,
    published INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
  )`);
  sql.exec("CREATE INDEX IF NOT EXISTS relays_by_last_seen ON relays (last_seen)");
  // A retired relay's descriptors published up to `at` must not bring it back when replayed.
  sql.exec("CREATE TABLE IF NOT EXISTS retirements (id TEXT PRIMARY KEY, at INTEGER NOT NULL)");
  sql.exec(`CREATE TABLE IF NOT EXISTS consensus_cache (
    slot INTEGER PRIMARY KEY CHECK (slot = 0),
    published INTEGER NOT NULL,
    document TEXT NOT NULL,
    signature TEXT NOT NULL
  )`);
}

const toRow = (r: RelayRecord): RelayRow => ({
  id: r.id,
  address: r.address,
  onionKey: r.onion_key,
  identityKey: r.identity_key,
  published: r.published,
  lastSeen: r.last_seen,
});

export function getRelay(sql: SqlStorage, id: string): RelayRow | null {
  const [record] = sql.exec<RelayRecord>("SELECT * FROM relays WHERE id = ?", id).toArray();
  return record ? toRow(record) : null;
}

/** Sorted by id: the order the consensus lists them in. */
export const listRelays = (sql: SqlStorage): RelayRow[] => sql.exec<RelayRecord>("SELECT * FROM relays ORDER BY id").toArray().map(toRow);

export const countRelays = (sql: SqlStorage): number => Number(sql.exec("SELECT COUNT(*) AS n FROM relays").one().n);

export function upsertRelay(sql: SqlStorage, d: Descriptor, now: number): void {
  sql.exec(
    `INSERT INTO relays (id, address, onion_key, identity_key, published, last_seen) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET address = excluded.address, onion_key = excluded.onion_key,
       identity_key = excluded.identity_key, published = excluded.published, last_seen = excluded.last_seen`,
    d.id, d.address, d.onionKey, d.identityKey, d.published, now,
  );
}

export function deleteRelay(sql: SqlStorage, id: string): void {
  sql.exec("DELETE FROM relays WHERE id = ?", id);
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
  const relays = sql.exec("DELETE FROM relays WHERE last_seen + ? <= ?", ttlMs, now).rowsWritten;
  sql.exec("DELETE FROM retirements WHERE at + ? <= ?", keepMs, now);
  return relays;
}

/** The earliest moment something becomes due for pruning, or null when nothing is stored. */
export function nextDeadline(sql: SqlStorage, ttlMs: number, keepMs: number): number | null {
  // Two queries: SQLite's scalar min() is NULL as soon as either table is empty.
  const [relay] = sql.exec<{ due: number | null }>("SELECT min(last_seen) + ? AS due FROM relays", ttlMs).toArray();
  const [retirement] = sql.exec<{ due: number | null }>("SELECT min(at) + ? AS due FROM retirements", keepMs).toArray();
  const due = [relay?.due, retirement?.due].filter((d): d is number => typeof d === "number");
  return due.length > 0 ? Math.min(...due) : null;
}

export function readConsensus(sql: SqlStorage): { published: number; signed: SignedConsensus } | null {
  const [row] = sql.exec<{ published: number; document: string; signature: string }>("SELECT published, document, signature FROM consensus_cache").toArray();
  return row ? { published: row.published, signed: { document: row.document, signature: row.signature } } : null;
}

export function writeConsensus(sql: SqlStorage, published: number, signed: SignedConsensus): void {
  sql.exec(
    "INSERT OR REPLACE INTO consensus_cache (slot, published, document, signature) VALUES (0, ?, ?, ?)",
    published, signed.document, signed.signature,
  );
}

export function clearConsensus(sql: SqlStorage): void {
  sql.exec("DELETE FROM consensus_cache");
}
