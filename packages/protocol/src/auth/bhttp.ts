// Binary HTTP (RFC 9292), known-length form only: the inner messages that Oblivious HTTP carries to
// the auth server (ohttp.ts). A request is framing indicator 0, then method, scheme, authority and
// path, a header section, the content and an empty trailer section; a response is framing indicator
// 1, a status code, a header section, the content and an empty trailer section. Integers are QUIC
// variable-length integers (RFC 9000 §16). Padding is zero bytes after the message (RFC 9292 §3.8),
// which is how the auth flows give every message the same length whatever the username.

import { type Bytes, concat, fromUtf8, utf8 } from "../bytes.ts";

export interface BinaryRequest {
  method: string;
  scheme: string;
  authority: string;
  path: string;
  /** Field lines in order; names are lowercase (RFC 9292 §3.4). */
  headers: [string, string][];
  content: Bytes;
}

export interface BinaryResponse {
  status: number;
  headers: [string, string][];
  content: Bytes;
}

export class BinaryHttpError extends Error {
  override readonly name = "BinaryHttpError";
}

/** QUIC variable-length integer (RFC 9000 §16): the two high bits of the first byte give its length. */
export function encodeVarint(value: number): Bytes {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError("a varint is a non-negative integer");
  if (value < 0x40) return Uint8Array.of(value);
  if (value < 0x4000) return Uint8Array.of(0x40 | (value >> 8), value & 0xff);
  if (value < 0x4000_0000) return Uint8Array.of(0x80 | (value >>> 24), (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
  throw new RangeError("varints above 2^30 are not needed here");
}

class Reader {
  offset = 0;
  readonly bytes: Bytes;
  constructor(bytes: Bytes) {
    this.bytes = bytes;
  }
  get done(): boolean {
    return this.offset >= this.bytes.length;
  }
  varint(): number {
    const first = this.bytes[this.offset];
    if (first === undefined) throw new BinaryHttpError("truncated varint");
    const length = 1 << (first >> 6);
    if (this.offset + length > this.bytes.length) throw new BinaryHttpError("truncated varint");
    let value = first & 0x3f;
    for (let i = 1; i < length; i++) value = value * 256 + this.bytes[this.offset + i]!;
    this.offset += length;
    if (!Number.isSafeInteger(value)) throw new BinaryHttpError("varint too large");
    return value;
  }
  bytesOf(length: number): Bytes {
    if (this.offset + length > this.bytes.length) throw new BinaryHttpError("truncated field");
    const out = this.bytes.slice(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }
  text(): string {
    try {
      return fromUtf8(this.bytesOf(this.varint()));
    } catch (error) {
      if (error instanceof BinaryHttpError) throw error;
      throw new BinaryHttpError("a field is not UTF-8");
    }
  }
  /** A known-length field section; an absent one (truncated message, §3.8) is empty. */
  fields(): [string, string][] {
    if (this.done) return [];
    const end = this.varint();
    const stop = this.offset + end;
    if (stop > this.bytes.length) throw new BinaryHttpError("truncated field section");
    const lines: [string, string][] = [];
    while (this.offset < stop) {
      const name = this.text();
      const value = this.text();
      if (this.offset > stop) throw new BinaryHttpError("a field line overruns its section");
      if (name === "" || name !== name.toLowerCase()) throw new BinaryHttpError("field names are non-empty and lowercase");
      lines.push([name, value]);
    }
    return lines;
  }
  content(): Bytes {
    if (this.done) return new Uint8Array(0);
    return this.bytesOf(this.varint());
  }
  /** After the trailer section only zero bytes (padding) may remain. */
  finish(): void {
    this.fields(); // trailers are read and ignored
    for (let i = this.offset; i < this.bytes.length; i++) if (this.bytes[i] !== 0) throw new BinaryHttpError("non-zero bytes after the message");
  }
}

const lengthPrefixed = (bytes: Bytes): Bytes => concat(encodeVarint(bytes.length), bytes);
const text = (value: string): Bytes => lengthPrefixed(utf8(value));
const fieldSection = (headers: [string, string][]): Bytes => lengthPrefixed(concat(...headers.flatMap(([name, value]) => [text(name.toLowerCase()), text(value)])));
const EMPTY_SECTION = encodeVarint(0);

/** Zero bytes up to `length` (a message never shrinks). */
function pad(message: Bytes, length: number): Bytes {
  if (message.length >= length) return message;
  const out = new Uint8Array(length);
  out.set(message);
  return out;
}

export function encodeBinaryRequest(request: BinaryRequest, padTo = 0): Bytes {
  const control = concat(text(request.method), text(request.scheme), text(request.authority), text(request.path));
  return pad(concat(encodeVarint(0), control, fieldSection(request.headers), lengthPrefixed(request.content), EMPTY_SECTION), padTo);
}

export function encodeBinaryResponse(response: BinaryResponse, padTo = 0): Bytes {
  if (!Number.isInteger(response.status) || response.status < 200 || response.status > 599) throw new RangeError("a final status is 200..599");
  return pad(concat(encodeVarint(1), encodeVarint(response.status), fieldSection(response.headers), lengthPrefixed(response.content), EMPTY_SECTION), padTo);
}

export function decodeBinaryRequest(bytes: Bytes): BinaryRequest {
  const reader = new Reader(bytes);
  if (reader.varint() !== 0) throw new BinaryHttpError("not a known-length request (framing indicator 0)");
  const method = reader.text();
  const scheme = reader.text();
  const authority = reader.text();
  const path = reader.text();
  const headers = reader.fields();
  const content = reader.content();
  reader.finish();
  return { method, scheme, authority, path, headers, content };
}

export function decodeBinaryResponse(bytes: Bytes): BinaryResponse {
  const reader = new Reader(bytes);
  if (reader.varint() !== 1) throw new BinaryHttpError("not a known-length response (framing indicator 1)");
  let status = reader.varint();
  // Informational (1xx) responses may precede the final one; their fields are skipped.
  while (status >= 100 && status < 200) {
    reader.fields();
    status = reader.varint();
  }
  if (status < 200 || status > 599) throw new BinaryHttpError("the final status is not 200..599");
  const headers = reader.fields();
  const content = reader.content();
  reader.finish();
  return { status, headers, content };
}

/**
 * The length every auth message is padded to: 1024 bytes, or the next power of two for a longer one,
 * so the exit learns nothing from lengths (a username is at most 256 bytes of UTF-8).
 */
export function authPaddedLength(length: number): number {
  let size = 1024;
  while (size < length) size *= 2;
  return size;
}
