// The relay's SQL tables in Durable Object storage: its keys, the key table and the transfer table.
// Rows survive eviction and restarts: a relay keeps its identity and passes on the cells of its
// circuits; replay windows are kept in memory (see CachedCircuit).

import { type Bytes, type KeyRow, type RelayTables, type TransferRow, acceptSequence } from "@shallot/protocol";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS relay_identity (
  singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
  id TEXT NOT NULL,
  address TEXT NOT NULL,
  identity_key BLOB NOT NULL,
  onion_key BLOB NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS key_table (
  link_id TEXT NOT NULL,
  neighbour TEXT NOT NULL,
  key_material BLOB NOT NULL,
  replay_highest INTEGER NOT NULL DEFAULT 0,
  replay_bitmap INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  last_used INTEGER NOT NULL,
  PRIMARY KEY (link_id, neighbour)
);
CREATE INDEX IF NOT EXISTS key_table_last_used ON key_table (last_used);
CREATE TABLE IF NOT EXISTS transfer_table (
  in_link_id TEXT NOT NULL,
  in_neighbour TEXT NOT NULL,
  out_link_id TEXT NOT NULL,
  out_neighbour TEXT NOT NULL,
  out_address TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (in_link_id, in_neighbour),
  UNIQUE (out_link_id, out_neighbour)
);
`;

export interface StoredIdentity {
  id: string;
  address: string;
  identityKey: Uint8Array<ArrayBuffer>;
  onionKey: Uint8Array<ArrayBuffer>;
}

const TOUCH_GRANULARITY_MS = 5_000;
/** Circuits whose rows are kept in memory too, so a cell costs no SQL read: the most recently used. */
const CACHE_LIMIT = 4096;

/** A circuit's rows as the engine reads them on every cell. `transfer` undefined: not looked up yet. */
interface CachedCircuit {
  keyMaterial: Bytes;
  /**
   * The replay window, kept in memory only: a storage write per cell would hold every answer until
   * it is durable (the output gate), a third of the cost of a request. null for a circuit read back
   * from the tables after the object was evicted: which cells it accepted since is unknown, so it
   * accepts none (the circuit is torn down on its next cell for this hop; the client rebuilds).
   */
  replay: { highest: number; bitmap: number } | null;
  transfer: TransferRow | null | undefined;
}

const bytes = (value: unknown): Uint8Array<ArrayBuffer> => new Uint8Array(value as ArrayBuffer);

export class RelayStore implements RelayTables {
  /**
   * Tables exist only once the relay is created: anyone may name a Durable Object by a relay id,
   * and a lookup of an id that serves nothing must write nothing.
   */
  private ready: boolean;
  /** When each circuit's last_used was last written, to write it at most every few seconds. */
  private readonly touched = new Map<string, number>();
  /** Rows in key_table, kept here so the circuit cap costs no query per CREATE2. */
  private keyRows = 0;
  /**
   * The tables stay the source of truth (they survive eviction); this is what every cell reads,
   * written through on every change, and emptied whenever rows go in bulk.
   */
  private readonly cache = new Map<string, CachedCircuit>();
  /** Exit-side end of a cached transfer row → its client-side key. */
  private readonly back = new Map<string, string>();
  /** Replay windows of the circuits this object has seen since it started (section 14.1). */
  private readonly windows = new Map<string, { highest: number; bitmap: number }>();

  constructor(private readonly sql: SqlStorage) {
    this.ready = sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'relay_identity'").toArray().length > 0;
    if (this.ready) this.keyRows = Number(sql.exec("SELECT COUNT(*) AS n FROM key_table").one().n);
  }

  /** Circuits this relay holds now (key rows). */
  circuitCount(): number {
    return this.keyRows;
  }

  loadIdentity(): StoredIdentity | null {
    if (!this.ready) return null;
    const row = this.sql.exec("SELECT id, address, identity_key, onion_key FROM relay_identity").toArray()[0];
    if (!row) return null;
    return { id: String(row.id), address: String(row.address), identityKey: bytes(row.identity_key), onionKey: bytes(row.onion_key) };
  }

  saveIdentity(identity: StoredIdentity, now: number): void {
    this.sql.exec(SCHEMA);
    this.ready = true;
    this.sql.exec(
      "INSERT INTO relay_identity (singleton, id, address, identity_key, onion_key, created_at) VALUES (1, ?, ?, ?, ?, ?)",
      identity.id,
      identity.address,
      identity.identityKey,
      identity.onionKey,
      now,
    );
  }

  /** The circuit's cached rows, read from the tables on a miss. */
  private cached(linkId: string, neighbour: string): CachedCircuit | null {
    const key = `${linkId}/${neighbour}`;
    let circuit = this.cache.get(key);
    if (circuit) {
      // Most recently used last, so the oldest goes first when the cache is full.
      this.cache.delete(key);
      this.cache.set(key, circuit);
      return circuit;
    }
    if (!this.ready) return null;
    const row = this.sql.exec("SELECT key_material FROM key_table WHERE link_id = ? AND neighbour = ?", linkId, neighbour).toArray()[0];
    if (!row) return null;
    circuit = { keyMaterial: bytes(row.key_material), replay: this.windows.get(key) ?? null, transfer: undefined };
    this.remember(key, circuit);
    return circuit;
  }

  private remember(key: string, circuit: CachedCircuit): void {
    if (this.cache.size >= CACHE_LIMIT) {
      const [oldest, evicted] = this.cache.entries().next().value!;
      this.cache.delete(oldest);
      if (evicted.transfer) this.back.delete(`${evicted.transfer.outLinkId}/${evicted.transfer.outNeighbour}`);
    }
    this.cache.set(key, circuit);
    if (circuit.transfer) this.back.set(`${circuit.transfer.outLinkId}/${circuit.transfer.outNeighbour}`, key);
  }

  getKeys(linkId: string, neighbour: string): KeyRow | null {
    const circuit = this.cached(linkId, neighbour);
    return circuit ? { linkId, neighbour, keyMaterial: circuit.keyMaterial } : null;
  }

  insertKeys(row: KeyRow, now: number): void {
    this.touched.set(`${row.linkId}/${row.neighbour}`, now);
    this.sql.exec("INSERT INTO key_table (link_id, neighbour, key_material, created_at, last_used) VALUES (?, ?, ?, ?, ?)", row.linkId, row.neighbour, row.keyMaterial, now, now);
    this.keyRows++;
    // A new circuit ends here until it is extended.
    const fresh = { highest: 0, bitmap: 0 };
    this.windows.set(`${row.linkId}/${row.neighbour}`, fresh);
    this.remember(`${row.linkId}/${row.neighbour}`, { keyMaterial: row.keyMaterial, replay: fresh, transfer: null });
  }

  acceptSequence(linkId: string, neighbour: string, seq: number, now: number): boolean {
    const key = `${linkId}/${neighbour}`;
    const circuit = this.cached(linkId, neighbour);
    if (!circuit?.replay) return false;
    const next = acceptSequence(circuit.replay, seq);
    if (!next) return false;
    circuit.replay = next;
    // Kept apart from the cache too, so a circuit that falls out of a full cache keeps its window.
    this.windows.set(key, next);
    this.touch(linkId, neighbour, now);
    return true;
  }

  touch(linkId: string, neighbour: string, now: number): void {
    // last_used only drives idle expiry (minutes), so a write every few seconds is precise enough
    // and keeps a storage write off the path of most cells.
    const key = `${linkId}/${neighbour}`;
    const written = this.touched.get(key);
    if (written !== undefined && now - written < TOUCH_GRANULARITY_MS) return;
    if (this.touched.size >= 4096) this.touched.clear();
    this.touched.set(key, now);
    this.sql.exec("UPDATE key_table SET last_used = ? WHERE link_id = ? AND neighbour = ?", now, linkId, neighbour);
  }

  getTransfer(inLinkId: string, inNeighbour: string): TransferRow | null {
    const circuit = this.cached(inLinkId, inNeighbour);
    if (circuit && circuit.transfer !== undefined) return circuit.transfer;
    if (!this.ready) return null;
    const row = this.sql.exec("SELECT out_link_id, out_neighbour, out_address FROM transfer_table WHERE in_link_id = ? AND in_neighbour = ?", inLinkId, inNeighbour).toArray()[0];
    const transfer = row ? { inLinkId, inNeighbour, outLinkId: String(row.out_link_id), outNeighbour: String(row.out_neighbour), outAddress: String(row.out_address) } : null;
    if (circuit) {
      circuit.transfer = transfer;
      if (transfer) this.back.set(`${transfer.outLinkId}/${transfer.outNeighbour}`, `${inLinkId}/${inNeighbour}`);
    }
    return transfer;
  }

  getTransferBack(outLinkId: string, outNeighbour: string): TransferRow | null {
    const inKey = this.back.get(`${outLinkId}/${outNeighbour}`);
    const hit = inKey ? this.cache.get(inKey)?.transfer : undefined;
    if (hit) return hit;
    if (!this.ready) return null;
    const row = this.sql.exec("SELECT in_link_id, in_neighbour, out_address FROM transfer_table WHERE out_link_id = ? AND out_neighbour = ?", outLinkId, outNeighbour).toArray()[0];
    return row ? { inLinkId: String(row.in_link_id), inNeighbour: String(row.in_neighbour), outLinkId, outNeighbour, outAddress: String(row.out_address) } : null;
  }

  insertTransfer(row: TransferRow, now: number): void {
    const circuit = this.cached(row.inLinkId, row.inNeighbour);
    if (circuit) {
      circuit.transfer = row;
      this.back.set(`${row.outLinkId}/${row.outNeighbour}`, `${row.inLinkId}/${row.inNeighbour}`);
    }
    this.sql.exec(
      "INSERT INTO transfer_table (in_link_id, in_neighbour, out_link_id, out_neighbour, out_address, created_at) VALUES (?, ?, ?, ?, ?, ?)",
      row.inLinkId,
      row.inNeighbour,
      row.outLinkId,
      row.outNeighbour,
      row.outAddress,
      now,
    );
  }

  deleteCircuit(linkId: string, neighbour: string): void {
    this.touched.delete(`${linkId}/${neighbour}`);
    const circuit = this.cache.get(`${linkId}/${neighbour}`);
    if (circuit?.transfer) this.back.delete(`${circuit.transfer.outLinkId}/${circuit.transfer.outNeighbour}`);
    this.cache.delete(`${linkId}/${neighbour}`);
    this.windows.delete(`${linkId}/${neighbour}`);
    // rowsWritten counts index entries too; RETURNING counts rows.
    this.keyRows -= this.sql.exec("DELETE FROM key_table WHERE link_id = ? AND neighbour = ? RETURNING 1", linkId, neighbour).toArray().length;
    this.sql.exec("DELETE FROM transfer_table WHERE in_link_id = ? AND in_neighbour = ?", linkId, neighbour);
  }

  /**
   * Erases, in one statement each, idle circuits that end at this relay (no next hop to tell) and
   * transfer rows whose key row is gone: cheap however many CREATE2 a client sent.
   */
  deleteIdleEnds(before: number): number {
    if (!this.ready) return 0;
    const gone = this.sql
      .exec(
        `DELETE FROM key_table WHERE last_used < ? AND NOT EXISTS
           (SELECT 1 FROM transfer_table t WHERE t.in_link_id = key_table.link_id AND t.in_neighbour = key_table.neighbour)
         RETURNING link_id, neighbour`,
        before,
      )
      .toArray();
    for (const row of gone) this.windows.delete(`${String(row.link_id)}/${String(row.neighbour)}`);
    const ends = gone.length;
    this.sql.exec(
      `DELETE FROM transfer_table WHERE NOT EXISTS
         (SELECT 1 FROM key_table k WHERE k.link_id = transfer_table.in_link_id AND k.neighbour = transfer_table.in_neighbour)`,
    );
    this.keyRows = Number(this.sql.exec("SELECT COUNT(*) AS n FROM key_table").one().n);
    // Rows went in bulk: what is cached may be gone.
    this.cache.clear();
    this.back.clear();
    return ends;
  }

  /** Circuits whose last cell is older than `before`: the client-side ends, for teardown. */
  idleCircuits(before: number, limit: number): { linkId: string; neighbour: string }[] {
    return this.sql
      .exec("SELECT link_id, neighbour FROM key_table WHERE last_used < ? ORDER BY last_used LIMIT ?", before, limit)
      .toArray()
      .map((row) => ({ linkId: String(row.link_id), neighbour: String(row.neighbour) }));
  }

  allCircuits(): { linkId: string; neighbour: string }[] {
    return this.sql
      .exec("SELECT link_id, neighbour FROM key_table")
      .toArray()
      .map((row) => ({ linkId: String(row.link_id), neighbour: String(row.neighbour) }));
  }

  /** After the storage was erased (retirement). */
  forgetSchema(): void {
    this.ready = false;
    this.cache.clear();
    this.back.clear();
    this.windows.clear();
    this.keyRows = 0;
  }

  counts(): { keys: number; transfers: number } {
    if (!this.ready) return { keys: 0, transfers: 0 };
    const keys = Number(this.sql.exec("SELECT COUNT(*) AS n FROM key_table").one().n);
    const transfers = Number(this.sql.exec("SELECT COUNT(*) AS n FROM transfer_table").one().n);
    return { keys, transfers };
  }
}
