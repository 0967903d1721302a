// The client's link to its entry relay: the protocol's link contract (a binary POST to
// `<address>/cell`) over Node's fetch, with Node's reasons for a failed connection in the message.

import { type CellTransport, type NetworkFailure, fetchTransport } from "@shallot/protocol";
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

export function httpTransport(options: { timeoutMs?: number; fetch?: typeof fetch } = {}): CellTransport {
  const send = options.fetch ?? fetch;
  return fetchTransport({ fetch: (url, init) => send(url, init), timeoutMs: options.timeoutMs ?? CELL_TIMEOUT_MS, networkFailure: nodeNetworkFailure });
}
