// RelayTables kept in Maps: for tests and for tools that run a relay without storage.

import { type ReplayWindow, acceptSequence, emptyReplayWindow } from "./replay-window.ts";
import type { KeyRow, RelayTables, TransferRow } from "./relay-engine.ts";

const key = (linkId: string, neighbour: string) => `${linkId}/${neighbour}`;

export class MemoryRelayTables implements RelayTables {
  readonly keys = new Map<string, KeyRow & { replay: ReplayWindow; lastUsed: number }>();
  readonly transfers = new Map<string, TransferRow>();

  getKeys(linkId: string, neighbour: string): KeyRow | null {
    return this.keys.get(key(linkId, neighbour)) ?? null;
  }
  touch(linkId: string, neighbour: string, now: number): void {
    const row = this.keys.get(key(linkId, neighbour));
    if (row) row.lastUsed = now;
  }
  insertKeys(row: KeyRow, now: number): void {
    this.keys.set(key(row.linkId, row.neighbour), { ...row, replay: emptyReplayWindow(), lastUsed: now });
  }
  acceptSequence(linkId: string, neighbour: string, seq: number, now: number): boolean {
    const row = this.keys.get(key(linkId, neighbour));
    const next = row && acceptSequence(row.replay, seq);
    if (!row || !next) return false;
    row.replay = next;
    row.lastUsed = now;
    return true;
  }
  getTransfer(inLinkId: string, inNeighbour: string): TransferRow | null {
    return this.transfers.get(key(inLinkId, inNeighbour)) ?? null;
  }
  getTransferBack(outLinkId: string, outNeighbour: string): TransferRow | null {
    for (const row of this.transfers.values()) if (row.outLinkId === outLinkId && row.outNeighbour === outNeighbour) return row;
    return null;
  }
  insertTransfer(row: TransferRow): void {
    this.transfers.set(key(row.inLinkId, row.inNeighbour), row);
  }
  deleteCircuit(linkId: string, neighbour: string): void {
    this.keys.delete(key(linkId, neighbour));
    this.transfers.delete(key(linkId, neighbour));
  }
}
