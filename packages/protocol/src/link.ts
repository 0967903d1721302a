// The link contract (docs/protocol.md section 4): a link cell is a binary POST to `<address>/cell`,
// answered by one cell (200) or by a JSON error `{ error, message }`. Every sender — a relay's link
// to its next hop, the gateway, the `onion` CLI, the browser page — encodes and decodes it here;
// only the fetch it is carried by differs.

import { type Bytes, concat } from "./bytes.ts";
import { MAX_CELL_BYTES } from "./cell.ts";
import type { CellTransport } from "./client.ts";
import type { ProtocolErrorCode } from "./errors.ts";

export const CELL_CONTENT_TYPE = "application/octet-stream";
/** Names the sending relay of a link cell; absent when the sender is a client. */
export const NEIGHBOUR_HEADER = "onion-neighbour";
/** On an onion proxy's answer: the relay ids of the circuit that carried it, entry first. */
export const CIRCUIT_HEADER = "onion-circuit";
/** On a request to an onion proxy: exactly `1` asks for a circuit of its own. */
export const NEW_CIRCUIT_HEADER = "onion-new-circuit";
/** Largest error body a sender reads: any URL can be a next hop. */
export const MAX_ERROR_BODY_BYTES = 4096;

/** `<address>/cell`, with any trailing "/" of the address removed. */
export const cellUrl = (address: string): string => `${address.replace(/\/+$/, "")}/cell`;

/** The POST that carries one link cell; `neighbour` is the sending relay's id (none from a client). */
export function cellRequest<B extends Uint8Array>(cell: B, neighbour?: string): { method: "POST"; headers: Record<string, string>; body: B } {
  const headers: Record<string, string> = { "content-type": CELL_CONTENT_TYPE };
  if (neighbour) headers[NEIGHBOUR_HEADER] = neighbour;
  return { method: "POST", headers, body: cell };
}

/** The one error shape of every Shallot HTTP answer. */
export interface ErrorBody {
  error: string;
  message: string;
}

export const errorBody = (code: string, message: string): ErrorBody => ({ error: code, message });

const CELL_ERROR_STATUS: Partial<Record<ProtocolErrorCode, number>> = { unknown_link: 404, message_too_large: 413 };

/** The HTTP status a relay answers a cell with when handling it failed with `code` (400 unless listed). */
export const cellErrorStatus = (code: ProtocolErrorCode): number => CELL_ERROR_STATUS[code] ?? 400;

/**
 * A link cell that did not get its answer. `status` is the relay's HTTP status, or 0 when no answer
 * came; then `code` says what is known of the cell's fate:
 * - `relay_unreachable`: it was never delivered (no connection could be made);
 * - `link_failed`: delivery is unknown (the connection dropped, the answer was garbled or too large);
 * - `link_timeout`: no answer in time.
 */
export class LinkError extends Error {
  override readonly name = "LinkError";
  readonly address: string;
  readonly status: number;
  readonly code: string;
  constructor(address: string, status: number, code: string, message: string) {
    super(message);
    this.address = address;
    this.status = status;
    this.code = code;
  }
}

/** A relay's words, shown to users: one short line of printable text. */
const tidy = (text: string): string => text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim().slice(0, 200);

/** The LinkError for a relay's answer with a non-2xx `status` and the (bounded) bytes of its body. */
export function decodeLinkError(address: string, status: number, body: Bytes | null): LinkError {
  let parsed: unknown = null;
  try {
    parsed = body ? JSON.parse(new TextDecoder().decode(body)) : null;
  } catch {}
  const fields = (parsed ?? {}) as { error?: unknown; message?: unknown };
  const code = typeof fields.error === "string" && /^[a-z_]{1,64}$/.test(fields.error) ? fields.error : "link_failed";
  const said = typeof fields.message === "string" ? tidy(fields.message) : "";
  return new LinkError(address, status, code, `The relay at ${address} refused the cell (${status} ${code})${said ? `: ${said}` : "."}`);
}

/** Reads a body, giving up (null) as soon as it passes `limit` bytes. */
export async function readBodyWithin(response: Response, limit: number): Promise<Bytes | null> {
  const declared = Number(response.headers.get("content-length") ?? 0);
  if (declared > limit) {
    await response.body?.cancel().catch(() => {});
    return null;
  }
  return readStreamWithin(response.body, limit);
}

/** Reads a stream to its end, giving up (null, the stream cancelled) as soon as it passes `limit` bytes. */
export async function readStreamWithin(stream: ReadableStream<Uint8Array> | null, limit: number): Promise<Bytes | null> {
  if (!stream) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Bytes[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value as Bytes);
  }
  return concat(...chunks);
}

export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

/** Why a fetch threw: whether the cell certainly never left, and a few words for the message. */
export interface NetworkFailure {
  code: "relay_unreachable" | "link_failed" | "link_timeout";
  /** Completes "The relay at <address> …", e.g. "could not be reached (ECONNREFUSED)". */
  words: string;
}

/** Without more knowledge of the runtime, a fetch that threw may or may not have delivered the cell. */
export function defaultNetworkFailure(error: unknown): NetworkFailure {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) return { code: "link_timeout", words: "did not answer in time" };
  return { code: "link_failed", words: "could not be reached or dropped the connection" };
}

export interface FetchTransportOptions {
  /** The runtime's fetch (Node, a browser, a Worker); called with the cell's POST. */
  fetch: Fetch;
  /** Gives up on a cell's answer after this long (none when absent). */
  timeoutMs?: number;
  /** The sending relay's id (a relay's link); absent for a client. */
  neighbour?: string;
  /** What a thrown fetch means on this runtime. */
  networkFailure?: (error: unknown) => NetworkFailure;
}

/** A CellTransport over any fetch: the link contract, with errors as LinkError. */
export function fetchTransport(options: FetchTransportOptions): CellTransport {
  const networkFailure = options.networkFailure ?? defaultNetworkFailure;
  const fail = (address: string, error: unknown) => {
    const { code, words } = networkFailure(error);
    return new LinkError(address, 0, code, `The relay at ${address} ${words}.`);
  };
  return {
    async send(address: string, cell: Bytes): Promise<Bytes> {
      const signal = options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs);
      let response: Response;
      try {
        response = await options.fetch(cellUrl(address), { ...cellRequest(cell, options.neighbour), signal } as RequestInit);
      } catch (error) {
        throw fail(address, error);
      }
      let body: Bytes | null;
      try {
        body = await readBodyWithin(response, response.ok ? MAX_CELL_BYTES : MAX_ERROR_BODY_BYTES);
      } catch (error) {
        if (!response.ok) throw decodeLinkError(address, response.status, null);
        const failure = networkFailure(error);
        throw new LinkError(address, 0, failure.code === "link_timeout" ? "link_timeout" : "link_failed", `The relay at ${address} ${failure.code === "link_timeout" ? failure.words : "dropped the connection"}.`);
      }
      if (!response.ok) throw decodeLinkError(address, response.status, body);
      if (!body) throw new LinkError(address, 0, "link_failed", `The relay at ${address} answered more than any cell can hold.`);
      return body;
    },
  };
}

/** The WebSocket form of a link (section 4): `ws(s)://…<address>/link`. */
export const linkUrl = (address: string): string => `${address.replace(/\/+$/, "").replace(/^http/, "ws")}/link`;
/** Cells larger than this go by POST: a WebSocket message is at most 1 MiB on Cloudflare. */
export const MAX_LINK_FRAME_CELL = 1024 * 1024 - 4;

/** What this module needs of a WebSocket (the browser's, Node's global one). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "open" | "close" | "error" | "message", listener: (event: { data?: unknown }) => void): void;
}

export interface WebSocketTransportOptions {
  WebSocket: new (url: string) => WebSocketLike;
  /** Carries what a WebSocket cannot: cells over MAX_LINK_FRAME_CELL, and any cell when the link will not open. */
  fallback: CellTransport;
  /** Gives up on a cell's answer after this long. */
  timeoutMs?: number;
}

interface OpenLink {
  socket: WebSocketLike;
  opened: Promise<boolean>;
  pending: Map<number, { resolve: (cell: Bytes) => void; reject: (error: LinkError) => void }>;
  nextTag: number;
}

/**
 * A CellTransport over one WebSocket per entry: each frame is a 4-byte tag and a cell, answered by
 * the same tag and the answering cell (or a JSON refusal `{tag, status, error, message}` in a text
 * frame). Answers come back as they are ready, so a DRAIN held at the exit holds up no other cell,
 * and the server's bytes reach the client without a new request.
 */
export function webSocketTransport(options: WebSocketTransportOptions): CellTransport & { close(): void } {
  const links = new Map<string, OpenLink>();
  const open = (address: string): OpenLink => {
    const existing = links.get(address);
    if (existing) return existing;
    const socket = new options.WebSocket(linkUrl(address));
    socket.binaryType = "arraybuffer";
    const link: OpenLink = { socket, opened: Promise.resolve(false), pending: new Map(), nextTag: 1 };
    link.opened = new Promise<boolean>((resolve) => {
      socket.addEventListener("open", () => resolve(true));
      socket.addEventListener("error", () => resolve(false));
      socket.addEventListener("close", () => resolve(false));
    });
    socket.addEventListener("message", ({ data }) => {
      if (typeof data === "string") {
        let refusal: { tag?: unknown } = {};
        try {
          refusal = JSON.parse(data) as { tag?: unknown };
        } catch {}
        const waiting = typeof refusal.tag === "number" ? link.pending.get(refusal.tag) : undefined;
        if (!waiting) return;
        link.pending.delete(refusal.tag as number);
        const fields = refusal as { status?: unknown };
        waiting.reject(decodeLinkError(address, typeof fields.status === "number" ? fields.status : 502, new TextEncoder().encode(data) as Bytes));
        return;
      }
      const frame = new Uint8Array(data as ArrayBuffer);
      if (frame.length < 4) return;
      const tag = new DataView(frame.buffer, frame.byteOffset).getUint32(0);
      const waiting = link.pending.get(tag);
      if (!waiting) return;
      link.pending.delete(tag);
      waiting.resolve(frame.slice(4));
    });
    socket.addEventListener("close", () => {
      if (links.get(address) === link) links.delete(address);
      for (const [, waiting] of link.pending) waiting.reject(new LinkError(address, 0, "link_failed", `The relay at ${address} closed the link.`));
      link.pending.clear();
    });
    links.set(address, link);
    return link;
  };

  return {
    async send(address: string, cell: Bytes): Promise<Bytes> {
      if (cell.length > MAX_LINK_FRAME_CELL) return options.fallback.send(address, cell);
      const link = open(address);
      if (!(await link.opened)) {
        if (links.get(address) === link) links.delete(address);
        return options.fallback.send(address, cell);
      }
      const tag = link.nextTag;
      link.nextTag = link.nextTag === 0xffffffff ? 1 : link.nextTag + 1;
      const frame = new Uint8Array(4 + cell.length);
      new DataView(frame.buffer).setUint32(0, tag);
      frame.set(cell, 4);
      return new Promise<Bytes>((resolve, reject) => {
        const timer: ReturnType<typeof setTimeout> | null =
          options.timeoutMs === undefined
            ? null
            : setTimeout(() => {
                link.pending.delete(tag);
                reject(new LinkError(address, 0, "link_timeout", `The relay at ${address} did not answer in time.`));
              }, options.timeoutMs);
        const stop = () => {
          if (timer !== null) clearTimeout(timer);
        };
        link.pending.set(tag, {
          resolve: (answer) => {
            stop();
            resolve(answer);
          },
          reject: (error) => {
            stop();
            reject(error);
          },
        });
        try {
          link.socket.send(frame);
        } catch {
          link.pending.delete(tag);
          stop();
          reject(new LinkError(address, 0, "link_failed", `The relay at ${address} closed the link.`));
        }
      });
    },
    close() {
      for (const link of links.values()) link.socket.close(1000, "done");
      links.clear();
    },
  };
}
