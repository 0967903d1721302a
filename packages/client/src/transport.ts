// The client's link to its entry relay (docs/protocol.md section 4): a WebSocket to
// `<address>/link` carrying tagged cells both ways, so a stream's bytes come back as soon as the
// exit has them; the binary POST to `<address>/cell` carries what the socket cannot (a cell over
// 1 MiB, or every cell when the socket does not open). Node's reasons for a failed connection go
// into the messages.

import { type CellTransport, type NetworkFailure, type WebSocketLike, fetchTransport, webSocketTransport } from "@shallot/protocol";
import { networkReason } from "./errors.ts";

/** A RELAY cell's answer waits for the exit's own fetch (30 s by default) through two more hops. */
export const CELL_TIMEOUT_MS = 60_000;

/** The connection was never made: the cell certainly did not leave. */
const NOT_CONNECTED = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);
/** The relay was there and went away mid-request. */
const DROPPED = new Set(["UND_ERR_SOCKET", "ECONNRESET", "EPIPE"]);

export function nodeNetworkFailure(error: unknown): NetworkFailure {
  const reason = networkReason(error);
  if (reason === "timed out") return { code: "link_timeout", words: "did not answer in time" };
  if (NOT_CONNECTED.has(reason)) return { code: "relay_unreachable", words: `could not be reached (${reason})` };
  return { code: "link_failed", words: `${DROPPED.has(reason) ? "dropped the connection" : "could not be reached"} (${reason})` };
}

/** Cells as POSTs only. */
export function httpTransport(options: { timeoutMs?: number; fetch?: typeof fetch } = {}): CellTransport {
  const send = options.fetch ?? fetch;
  return fetchTransport({ fetch: (url, init) => send(url, init), timeoutMs: options.timeoutMs ?? CELL_TIMEOUT_MS, networkFailure: nodeNetworkFailure });
}

export type LinkTransport = CellTransport & { close(): void };

/**
 * Cells over a WebSocket per entry (Node 22's global WebSocket), POSTs as the fallback. `close()`
 * closes the sockets: an open one would keep the process alive.
 */
export function linkTransport(options: { timeoutMs?: number; WebSocket?: new (url: string) => WebSocketLike; fallback?: CellTransport } = {}): LinkTransport {
  const timeoutMs = options.timeoutMs ?? CELL_TIMEOUT_MS;
  return webSocketTransport({
    WebSocket: options.WebSocket ?? (globalThis.WebSocket as unknown as new (url: string) => WebSocketLike),
    fallback: options.fallback ?? httpTransport({ timeoutMs }),
    timeoutMs,
  });
}
