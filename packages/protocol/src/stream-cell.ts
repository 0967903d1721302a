// Stream relay cells: a TCP connection the exit opens for the client and relays bytes for, many on
// one circuit, each with its own stream id (tor-spec 6). Layouts in docs/protocol.md, "Streams".
//
// Every forward relay cell is answered by exactly one backward relay cell, so backward stream
// cells (the server's bytes, END, SENDME) ride as the answers to the client's cells: to a DRAIN,
// which the exit holds until one is ready, or to any other stream cell when one is already waiting.

import { type Bytes, ByteReader, ByteWriter, fromUtf8, utf8 } from "./bytes.ts";
import { ProtocolError } from "./errors.ts";
import { RELAY_HEADER_BYTES } from "./relay-cell.ts";

/** tor-spec 6.3 END reasons (the same numbers). */
export const EndReason = {
  MISC: 1,
  RESOLVEFAILED: 2,
  CONNECTREFUSED: 3,
  EXITPOLICY: 4,
  DESTROY: 5,
  DONE: 6,
  TIMEOUT: 7,
  NOROUTE: 8,
  HIBERNATING: 9,
  INTERNAL: 10,
  RESOURCELIMIT: 11,
  CONNRESET: 12,
  TORPROTOCOL: 13,
} as const satisfies Record<string, number>;
export type EndReason = (typeof EndReason)[keyof typeof EndReason];

/** What each END reason means to a user (the CLI prints it; CONNECT and SOCKS map it to a status). */
export const END_REASON_TEXT: Record<number, string> = {
  [EndReason.MISC]: "the exit closed the stream",
  [EndReason.RESOLVEFAILED]: "the exit could not resolve the host name",
  [EndReason.CONNECTREFUSED]: "the destination refused the connection",
  [EndReason.EXITPOLICY]: "the exit policy refuses this host or port",
  [EndReason.DESTROY]: "the circuit was torn down",
  [EndReason.DONE]: "the connection was closed",
  [EndReason.TIMEOUT]: "the destination did not answer in time",
  [EndReason.NOROUTE]: "the exit has no route to the destination",
  [EndReason.HIBERNATING]: "the exit is leaving the network",
  [EndReason.INTERNAL]: "the exit failed",
  [EndReason.RESOURCELIMIT]: "the exit has no room for another stream",
  [EndReason.CONNRESET]: "the destination reset the connection",
  [EndReason.TORPROTOCOL]: "the stream broke the protocol",
};

/**
 * Backward stream cells that leave the exit's queue (DATA, END, SENDME) start with a u32 *order*:
 * 1, 2, 3, … per circuit, in the order they left. They ride on answers to different forward cells,
 * which may come back in another order; the client hands them to their streams in this order. The
 * direct answers to a BEGIN (CONNECTED, END) carry order 0.
 */
export const ORDER_BYTES = 4;

export function withOrder(order: number, data: Bytes | readonly Bytes[]): Bytes[] {
  const head = new ByteWriter(ORDER_BYTES).u32(order).bytes;
  return [head, ...(data instanceof Uint8Array ? [data] : data)];
}

/** Splits a backward stream cell's data into its order and the rest. */
export function splitOrder(data: Bytes): { order: number; rest: Bytes } {
  if (data.length < ORDER_BYTES) throw new ProtocolError("malformed_message", "A backward stream cell is shorter than its order.");
  return { order: new ByteReader(data).u32(), rest: data.subarray(ORDER_BYTES) };
}

/** Stream ids are chosen by the client, unique on their circuit; 0 names the circuit in a SENDME. */
export const MAX_STREAM_ID = 0xffff;
export const MAX_HOST_BYTES = 255;

/**
 * Most bytes one DATA cell carries: a backward DATA cell then fills a 512 KiB bucket exactly (27-byte
 * relay header, 4-byte order, 2-byte stream id); forward ones carry no order and the same bytes.
 * A read returns what the socket has, so small exchanges still make small cells; only bulk
 * transfers fill it. Each cell costs every hop a fixed price (a call, a digest, a timer), which at
 * 64 KiB was most of the cost of a download (docs/performance.md).
 */
export const MAX_STREAM_DATA = 512 * 1024 - RELAY_HEADER_BYTES - ORDER_BYTES - 2;

/**
 * Flow control (tor-spec 7.3-7.4, in bytes of DATA rather than cells, since cells come in buckets):
 * a sender may have at most a window of bytes unacknowledged; the receiver acknowledges with a
 * SENDME once it has passed an increment on (to the TCP socket at the exit, to the application at
 * the client). Both per stream and per circuit, in both directions.
 */
// A stream's window holds four full DATA cells, as many as the client's DRAINs bring back at once.
export const STREAM_WINDOW_BYTES = 2 * 1024 * 1024;
export const STREAM_SENDME_BYTES = 512 * 1024;
export const CIRCUIT_WINDOW_BYTES = 8 * 1024 * 1024;
export const CIRCUIT_SENDME_BYTES = 2 * 1024 * 1024;

export interface Begin {
  streamId: number;
  /** A host name (resolved by the exit, as SOCKS5h asks) or an IP literal; IPv6 in brackets. */
  host: string;
  port: number;
}

const malformed = (what: string) => new ProtocolError("malformed_message", `The ${what} cell is malformed.`);

function checkStreamId(id: number, what: string, allowZero = false): number {
  if (!Number.isInteger(id) || id < (allowZero ? 0 : 1) || id > MAX_STREAM_ID) throw malformed(what);
  return id;
}

/** Host names as a resolver takes them (letters, digits, '-', '.', '_'), or a bracketed IPv6 literal. */
const HOST = /^(?:[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*\.?|\[[0-9a-f:.]+\])$/;

export const isStreamHost = (host: string): boolean => host.length <= MAX_HOST_BYTES && HOST.test(host);

export function encodeBegin({ streamId, host, port }: Begin): Bytes {
  const name = utf8(host.toLowerCase());
  if (!isStreamHost(host.toLowerCase())) throw new ProtocolError("malformed_message", "A stream's host must be a host name or an IP address.");
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ProtocolError("malformed_message", "A stream's port must be 1-65535.");
  return new ByteWriter(5 + name.length).u16(checkStreamId(streamId, "BEGIN")).u16(port).u8(name.length).raw(name).bytes;
}

export function decodeBegin(data: Bytes): Begin {
  try {
    const reader = new ByteReader(data);
    const streamId = checkStreamId(reader.u16(), "BEGIN");
    const port = reader.u16();
    const host = fromUtf8(reader.raw(reader.u8()));
    if (reader.remaining !== 0 || port < 1 || !isStreamHost(host)) throw new Error();
    return { streamId, host, port };
  } catch {
    throw malformed("BEGIN");
  }
}

/** CONNECTED, and any cell that names only its stream. */
export const encodeStreamId = (streamId: number): Bytes => new ByteWriter(2).u16(checkStreamId(streamId, "stream")).bytes;

export function decodeStreamId(data: Bytes, what = "CONNECTED"): number {
  if (data.length !== 2) throw malformed(what);
  return checkStreamId(new ByteReader(data).u16(), what);
}

export interface StreamData {
  streamId: number;
  bytes: Bytes;
}

/** DATA as [head, bytes], so a sealer writes the bytes once. */
export function encodeData({ streamId, bytes }: StreamData): [Bytes, Bytes] {
  if (bytes.length > MAX_STREAM_DATA) throw new ProtocolError("message_too_large", "A DATA cell carries at most one 512 KiB bucket.");
  return [encodeStreamId(streamId), bytes];
}

export function decodeData(data: Bytes): StreamData {
  if (data.length < 2 || data.length - 2 > MAX_STREAM_DATA) throw malformed("DATA");
  return { streamId: checkStreamId(new ByteReader(data).u16(), "DATA"), bytes: data.subarray(2) };
}

export interface End {
  streamId: number;
  reason: number;
}

export const encodeEnd = ({ streamId, reason }: End): Bytes => new ByteWriter(3).u16(checkStreamId(streamId, "END")).u8(reason).bytes;

export function decodeEnd(data: Bytes): End {
  if (data.length !== 3) throw malformed("END");
  const reader = new ByteReader(data);
  return { streamId: checkStreamId(reader.u16(), "END"), reason: reader.u8() };
}

export interface Sendme {
  /** 0: the circuit's window; else that stream's. */
  streamId: number;
  /** Bytes acknowledged: the sender's window grows by this much. */
  increment: number;
}

export function encodeSendme({ streamId, increment }: Sendme): Bytes {
  if (!Number.isInteger(increment) || increment < 1 || increment > 0xffffffff) throw malformed("SENDME");
  return new ByteWriter(6).u16(checkStreamId(streamId, "SENDME", true)).u32(increment).bytes;
}

export function decodeSendme(data: Bytes): Sendme {
  if (data.length !== 6) throw malformed("SENDME");
  const reader = new ByteReader(data);
  const streamId = checkStreamId(reader.u16(), "SENDME", true);
  const increment = reader.u32();
  if (increment < 1) throw malformed("SENDME");
  return { streamId, increment };
}
