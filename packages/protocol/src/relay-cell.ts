// The relay cell: what is inside all the layers. Only the hop that a cell is meant for
// (or, backwards, the client) finds `recognized` zero AND the digest right; any other hop
// sees pseudo-random bytes and passes the cell on. Layout in docs/protocol.md, "Relay cells".

import { type Bytes, ByteReader, ByteWriter, constantTimeEqual } from "./bytes.ts";
import type { Mac } from "./circuit-keys.ts";
import { ProtocolError } from "./errors.ts";
import { MAX_BUCKET, bucketFor, isBucket } from "./padding.ts";

export const RelayCommand = {
  EXTEND2: 1,
  EXTENDED2: 2,
  REQUEST: 3,
  RESPONSE: 4,
  ERROR: 5,
  // Streams (stream-cell.ts): TCP connections the exit opens and relays bytes for.
  BEGIN: 6,
  CONNECTED: 7,
  DATA: 8,
  END: 9,
  SENDME: 10,
  /** Client → exit: a way back for the next backward stream cell (held at the exit until one is ready). */
  DRAIN: 11,
  /** Exit → client: the answer that carries no stream cell (nothing was ready). */
  IDLE: 12,
} as const satisfies Record<string, number>;
export type RelayCommand = (typeof RelayCommand)[keyof typeof RelayCommand];

const RELAY_COMMANDS = new Set<number>(Object.values(RelayCommand));

export const RELAY_HEADER_BYTES = 27;
const DIGEST_OFFSET = 2;
const DIGEST_BYTES = 16;
const ZERO_DIGEST = new Uint8Array(DIGEST_BYTES);
export const MAX_RELAY_DATA = MAX_BUCKET - RELAY_HEADER_BYTES;

export interface RelayCell {
  command: RelayCommand;
  /** Per-circuit sequence number: forward, counts up from 1; backward, echoes the request's. */
  seq: number;
  data: Bytes;
}

async function digest(mac: Mac, nonce: Bytes, cell: Bytes): Promise<Bytes> {
  // The digest covers the nonce this hop saw, so a cell cannot be replayed under another nonce;
  // it is computed with its own field zeroed, passed in parts so the cell is not copied for it.
  const tag = await mac.sign([nonce, cell.subarray(0, DIGEST_OFFSET), ZERO_DIGEST, cell.subarray(DIGEST_OFFSET + DIGEST_BYTES)]);
  return tag.subarray(0, DIGEST_BYTES);
}

/** A relay cell to seal; its data may come in parts (a message's head and body), written once. */
export interface SealableRelayCell extends Omit<RelayCell, "data"> {
  data: Bytes | readonly Bytes[];
}

/** Builds the padded plaintext of a relay cell and seals its digest with `mac`. */
export async function sealRelayCell(mac: Mac, nonce: Bytes, cell: SealableRelayCell): Promise<Bytes> {
  const parts = cell.data instanceof Uint8Array ? [cell.data] : cell.data;
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  if (length > MAX_RELAY_DATA) throw new ProtocolError("message_too_large", "The message is larger than the largest cell.");
  // Written after the nonce in one buffer, so the digest over nonce || cell needs no second copy
  // of a cell that may be megabytes long.
  const writer = new ByteWriter(nonce.length + bucketFor(RELAY_HEADER_BYTES + length));
  writer.raw(nonce).u16(0).raw(new Uint8Array(DIGEST_BYTES)).u32(cell.seq).u8(cell.command).u32(length);
  for (const part of parts) writer.raw(part);
  const tag = (await mac.sign([writer.bytes])).subarray(0, DIGEST_BYTES);
  writer.bytes.set(tag, nonce.length + DIGEST_OFFSET);
  return writer.bytes.subarray(nonce.length);
}

/** Returns the relay cell if this plaintext is recognized by `mac`, or null if it is meant for another hop. */
export async function openRelayCell(mac: Mac, nonce: Bytes, plaintext: Bytes): Promise<RelayCell | null> {
  if (!isBucket(plaintext.length)) throw new ProtocolError("malformed_cell", "A relay cell must fill a size bucket.");
  const reader = new ByteReader(plaintext);
  if (reader.u16() !== 0) return null;
  const carried = reader.raw(DIGEST_BYTES);
  if (!constantTimeEqual(carried, await digest(mac, nonce, plaintext))) return null;
  const seq = reader.u32();
  const command = reader.u8();
  const length = reader.u32();
  if (!RELAY_COMMANDS.has(command)) throw new ProtocolError("unknown_command", `Unknown relay command ${command}.`);
  if (length > reader.remaining) throw new ProtocolError("malformed_cell", "The relay cell's length runs past its end.");
  return { command: command as RelayCommand, seq, data: reader.raw(length) };
}
