// The authority's record of each voting round: the votes it holds (its own and the other
// authorities', pushed or pulled), the consensus it computed, and the signatures collected on it.

import type { AuthoritySignature, SignedConsensus, SignedVote } from "@shallot/protocol";

export function createTables(sql: SqlStorage): void {
  // One row per distinct vote: an authority with two rows for one round signed two different votes.
  sql.exec(`CREATE TABLE IF NOT EXISTS votes (
    round INTEGER NOT NULL,
    authority TEXT NOT NULL,
    document TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (round, authority, document)
  )`);
  sql.exec("CREATE TABLE IF NOT EXISTS consensuses (round INTEGER PRIMARY KEY, document TEXT NOT NULL)");
  sql.exec(`CREATE TABLE IF NOT EXISTS signatures (
    round INTEGER NOT NULL,
    authority TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (round, authority)
  )`);
}

export interface StoredVote {
  authority: string;
  signed: SignedVote;
}

export function votesOf(sql: SqlStorage, round: number): StoredVote[] {
  return sql
    .exec<{ authority: string; document: string; signature: string }>("SELECT authority, document, signature FROM votes WHERE round = ? ORDER BY authority, document", round)
    .toArray()
    .map((row) => ({ authority: row.authority, signed: { document: row.document, signature: row.signature } }));
}

/** Stores a vote already checked; false when this exact vote was held already. */
export function storeVote(sql: SqlStorage, round: number, authority: string, signed: SignedVote): boolean {
  return sql.exec("INSERT OR IGNORE INTO votes (round, authority, document, signature) VALUES (?, ?, ?, ?)", round, authority, signed.document, signed.signature).rowsWritten > 0;
}

export const hasVote = (sql: SqlStorage, round: number, authority: string): boolean =>
  sql.exec("SELECT 1 FROM votes WHERE round = ? AND authority = ? LIMIT 1", round, authority).toArray().length > 0;

export function consensusOf(sql: SqlStorage, round: number): string | null {
  const [row] = sql.exec<{ document: string }>("SELECT document FROM consensuses WHERE round = ?", round).toArray();
  return row?.document ?? null;
}

export function storeConsensus(sql: SqlStorage, round: number, document: string): void {
  sql.exec("INSERT OR IGNORE INTO consensuses (round, document) VALUES (?, ?)", round, document);
}

export function signaturesOf(sql: SqlStorage, round: number): AuthoritySignature[] {
  return sql.exec<{ authority: string; signature: string }>("SELECT authority, signature FROM signatures WHERE round = ? ORDER BY authority", round).toArray().map((row) => ({ authority: row.authority, signature: row.signature }));
}

/** A signature already verified over this round's document. */
export function storeSignature(sql: SqlStorage, round: number, signature: AuthoritySignature): void {
  sql.exec("INSERT OR IGNORE INTO signatures (round, authority, signature) VALUES (?, ?, ?)", round, signature.authority, signature.signature);
}

/** Rounds with a consensus, newest first. */
export const consensusRounds = (sql: SqlStorage): number[] => sql.exec<{ round: number }>("SELECT round FROM consensuses ORDER BY round DESC").toArray().map((row) => row.round);

export const signed = (sql: SqlStorage, round: number): SignedConsensus | null => {
  const document = consensusOf(sql, round);
  return document === null ? null : { document, signatures: signaturesOf(sql, round) };
};

/** Forgets rounds before `round`. */
export function pruneRounds(sql: SqlStorage, round: number): void {
  sql.exec("DELETE FROM votes WHERE round < ?", round);
  sql.exec("DELETE FROM consensuses WHERE round < ?", round);
  sql.exec("DELETE FROM signatures WHERE round < ?", round);
}
