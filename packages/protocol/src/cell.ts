// Link cells: what one hop POSTs to the next (and gets back as the response body).
// Layout in docs/protocol.md, "Link cells".

import { type Bytes, ByteReader, ByteWriter } from "./bytes.ts";
import { ProtocolError } from "./errors.ts";
import { NONCE_BYTES } from "./layer.ts";
import { NTOR_HANDSHAKE_TYPE, NTOR_ONIONSKIN_BYTES, NTOR_REPLY_BYTES } from "./ntor.ts";
import { MAX_BUCKET, MIN_BUCKET, isBucket } from "./padding.ts";

export const LINK_ID_BYTES = 16;
export const CELL_VERSION = 1;

export const CellCommand = {
  CREATE2: 1,
  CREATED2: 2,
  RELAY: 3,
  DESTROY: 4,
  /** A RELAY cell a relay counts (tor-spec 5.6): only these may carry EXTEND2, at most MAX_RELAY_EARLY a circuit. */
  RELAY_EARLY: 9,
} as const satisfies Record<string, number>;

/**
 * RELAY_EARLY cells a relay takes on one circuit. Each relay passes them on as RELAY_EARLY and
 * counts them, and an EXTEND2 must come in one, so no circuit grows past 1 + 8 hops: a client
 * cannot build a circuit hundreds of hops long, or looping between two relays, to multiply one
 * cell's work (Tor's limit).
 */
export const MAX_RELAY_EARLY = 8;

type RelayCommandByte = typeof CellCommand.RELAY | typeof CellCommand.RELAY_EARLY;
/** Whether a cell command is a RELAY or a RELAY_EARLY: the same layout, the same layering. */
export const isRelayCommand = (command: number): command is RelayCommandByte => command === CellCommand.RELAY || command === CellCommand.RELAY_EARLY;

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
  | { command: RelayCommandByte; linkId: Bytes; nonce: Bytes; payload: Bytes }
  | { command: typeof CellCommand.DESTROY; linkId: Bytes; reason: number };

export const CELL_HEADER_BYTES = 2 + LINK_ID_BYTES;
/**
 * Every link cell is a header, 16 bytes (a RELAY cell's nonce) and one size bucket, so that a
 * control cell (CREATE2, CREATED2, DESTROY) is exactly as long as the smallest RELAY cell and a
 * link shows nothing but bucket sizes.
 */
export const CONTROL_CELL_BYTES = CELL_HEADER_BYTES + NONCE_BYTES + MIN_BUCKET;
/** The largest link cell: a RELAY cell carrying the biggest bucket. Readers bound bodies by it. */
export const MAX_CELL_BYTES = CELL_HEADER_BYTES + NONCE_BYTES + MAX_BUCKET;

export function encodeCell(cell: Cell): Bytes {
  const length = "payload" in cell ? CELL_HEADER_BYTES + NONCE_BYTES + cell.payload.length : CONTROL_CELL_BYTES;
  // A control cell's fields are followed by zero padding up to CONTROL_CELL_BYTES.
  const writer = new ByteWriter(length).u8(CELL_VERSION).u8(cell.command).raw(cell.linkId);
  switch (cell.command) {
    case CellCommand.CREATE2:
      writer.u16(NTOR_HANDSHAKE_TYPE).u16(cell.onionskin.length).raw(cell.onionskin);
      break;
    case CellCommand.CREATED2:
      writer.u16(cell.reply.length).raw(cell.reply);
      break;
    case CellCommand.RELAY:
    case CellCommand.RELAY_EARLY:
      writer.raw(cell.nonce).raw(cell.payload);
      break;
    case CellCommand.DESTROY:
      writer.u8(cell.reason);
      break;
  }
  return writer.bytes;
}

const CONTROL_FIELDS = { [CellCommand.CREATE2]: "CREATE2", [CellCommand.CREATED2]: "CREATED2", [CellCommand.DESTROY]: "DESTROY" } as const;

const malformed = (message: string) => new ProtocolError("malformed_cell", message);

/** Parses and length-checks a link cell; throws ProtocolError on anything else. */
export function decodeCell(bytes: Bytes): Cell {
  if (bytes.length < CELL_HEADER_BYTES) throw malformed("The cell is shorter than its header.");
  const reader = new ByteReader(bytes);
  const version = reader.u8();
  if (version !== CELL_VERSION) throw malformed(`Unsupported cell version ${version}.`);
  const command = reader.u8();
  const linkId = reader.raw(LINK_ID_BYTES);
  // Control cells are exactly CONTROL_CELL_BYTES: their fields, then padding the reader ignores.
  if (command !== CellCommand.RELAY && command in CONTROL_FIELDS && bytes.length !== CONTROL_CELL_BYTES) {
    throw malformed(`A ${CONTROL_FIELDS[command as keyof typeof CONTROL_FIELDS]} cell must be ${CONTROL_CELL_BYTES} bytes long.`);
  }
  switch (command) {
    case CellCommand.CREATE2: {
      const type = reader.u16();
      const length = reader.u16();
      if (type !== NTOR_HANDSHAKE_TYPE) throw new ProtocolError("handshake_failed", `Unsupported handshake type ${type}.`);
      if (length !== NTOR_ONIONSKIN_BYTES) throw malformed("CREATE2 has the wrong handshake length.");
      return { command, linkId, onionskin: reader.raw(length) };
    }
    case CellCommand.CREATED2: {
      const length = reader.u16();
      if (length !== NTOR_REPLY_BYTES) throw malformed("CREATED2 has the wrong reply length.");
      return { command, linkId, reply: reader.raw(length) };
    }
    case CellCommand.RELAY:
    case CellCommand.RELAY_EARLY: {
      if (reader.remaining < NONCE_BYTES) throw malformed("RELAY is truncated.");
      const nonce = reader.raw(NONCE_BYTES);
      const payload = reader.rest();
      if (!isBucket(payload.length)) throw malformed("A RELAY payload must be exactly one size bucket long.");
      return { command, linkId, nonce, payload };
    }
    case CellCommand.DESTROY:
      return { command, linkId, reason: reader.u8() };
    default:
      throw new ProtocolError("unknown_command", `Unknown cell command ${command}.`);
  }
}
