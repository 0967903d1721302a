// Link cells: what one hop POSTs to the next (and gets back as the response body).
// Layout in docs/protocol.md, "Link cells".

import { type Bytes, ByteReader, ByteWriter } from "./bytes.ts";
import { ProtocolError } from "./errors.ts";
import { NONCE_BYTES } from "./layer.ts";
import { NTOR_HANDSHAKE_TYPE, NTOR_ONIONSKIN_BYTES, NTOR_REPLY_BYTES } from "./ntor.ts";
import { MAX_BUCKET, isBucket } from "./padding.ts";

export const LINK_ID_BYTES = 16;
export const CELL_VERSION = 1;

export const CellCommand = {
  CREATE2: 1,
  CREATED2: 2,
  RELAY: 3,
  DESTROY: 4,
} as const satisfies Record<string, number>;

export const DestroyReason = {
  NONE: 0,
  PROTOCOL: 1,
  INTERNAL: 2,
  REQUESTED: 3,
  FINISHED: 5,
  TIMEOUT: 6,
  DESTROYED: 7,
  NO_SUCH_RELAY: 8,
  HIBERNATING: 9,
  INTEGRITY: 10,
} as const satisfies Record<string, number>;
export type DestroyReason = (typeof DestroyReason)[keyof typeof DestroyReason];

export type Cell =
  | { command: typeof CellCommand.CREATE2; linkId: Bytes; onionskin: Bytes }
  | { command: typeof CellCommand.CREATED2; linkId: Bytes; reply: Bytes }
  | { command: typeof CellCommand.RELAY; linkId: Bytes; nonce: Bytes; payload: Bytes }
  | { command: typeof CellCommand.DESTROY; linkId: Bytes; reason: number };

const HEADER_BYTES = 2 + LINK_ID_BYTES;
/** The largest link cell: a RELAY cell carrying the biggest bucket. Readers bound bodies by it. */
export const MAX_CELL_BYTES = HEADER_BYTES + NONCE_BYTES + MAX_BUCKET;

export function encodeCell(cell: Cell): Bytes {
  let body: number;
  switch (cell.command) {
    case CellCommand.CREATE2:
      body = 4 + cell.onionskin.length;
      break;
    case CellCommand.CREATED2:
      body = 2 + cell.reply.length;
      break;
    case CellCommand.RELAY:
      body = NONCE_BYTES + cell.payload.length;
      break;
    case CellCommand.DESTROY:
      body = 1;
      break;
  }
  const writer = new ByteWriter(HEADER_BYTES + body).u8(CELL_VERSION).u8(cell.command).raw(cell.linkId);
  switch (cell.command) {
    case CellCommand.CREATE2:
      writer.u16(NTOR_HANDSHAKE_TYPE).u16(cell.onionskin.length).raw(cell.onionskin);
      break;
    case CellCommand.CREATED2:
      writer.u16(cell.reply.length).raw(cell.reply);
      break;
    case CellCommand.RELAY:
      writer.raw(cell.nonce).raw(cell.payload);
      break;
    case CellCommand.DESTROY:
      writer.u8(cell.reason);
      break;
  }
  return writer.bytes;
}

const malformed = (message: string) => new ProtocolError("malformed_cell", message);

/** Parses and length-checks a link cell; throws ProtocolError on anything else. */
export function decodeCell(bytes: Bytes): Cell {
  if (bytes.length < HEADER_BYTES) throw malformed("The cell is shorter than its header.");
  const reader = new ByteReader(bytes);
  const version = reader.u8();
  if (version !== CELL_VERSION) throw malformed(`Unsupported cell version ${version}.`);
  const command = reader.u8();
  const linkId = reader.raw(LINK_ID_BYTES);
  switch (command) {
    case CellCommand.CREATE2: {
      if (reader.remaining < 4) throw malformed("CREATE2 is truncated.");
      const type = reader.u16();
      const length = reader.u16();
      if (type !== NTOR_HANDSHAKE_TYPE) throw new ProtocolError("handshake_failed", `Unsupported handshake type ${type}.`);
      if (length !== NTOR_ONIONSKIN_BYTES || reader.remaining !== length) throw malformed("CREATE2 has the wrong length.");
      return { command, linkId, onionskin: reader.raw(length) };
    }
    case CellCommand.CREATED2: {
      if (reader.remaining < 2) throw malformed("CREATED2 is truncated.");
      const length = reader.u16();
      if (length !== NTOR_REPLY_BYTES || reader.remaining !== length) throw malformed("CREATED2 has the wrong length.");
      return { command, linkId, reply: reader.raw(length) };
    }
    case CellCommand.RELAY: {
      if (reader.remaining < NONCE_BYTES) throw malformed("RELAY is truncated.");
      const nonce = reader.raw(NONCE_BYTES);
      const payload = reader.rest();
      if (!isBucket(payload.length)) throw malformed("A RELAY payload must be exactly one size bucket long.");
      return { command, linkId, nonce, payload };
    }
    case CellCommand.DESTROY: {
      if (reader.remaining !== 1) throw malformed("DESTROY has the wrong length.");
      return { command, linkId, reason: reader.u8() };
    }
    default:
      throw new ProtocolError("unknown_command", `Unknown cell command ${command}.`);
  }
}
