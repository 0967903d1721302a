// The gateway as the user's onion proxy: one OnionProxy per isolate (the protocol's: consensus feed,
// failed relays, entry guards, circuit pool, retry rule) over this deployment's links. Used by /fetch
// and /auth/*.

import { type CellTransport, type ExitResult, type HttpRequestMessage, LinkError, OnionProxy, isProtocolError } from "@shallot/protocol";
import { DirectoryError, fetchConsensus } from "./directory-client.ts";
import { type Env, readConfig } from "./env.ts";
import { errorResponse } from "./http-error.ts";
import { gatewayGuardStore } from "./gateway-state.ts";
import { sendCell } from "./link.ts";

/**
 * Cells to an entry of this deployment go straight to its object by RPC, skipping an HTTP layer;
 * to any other deployment over the link. Either way with the link's deadlines, and a failure is
 * always a LinkError naming the entry's address.
 */
function gatewayTransport(env: Env, localPrefix: string): CellTransport {
  const config = readConfig(env);
  const options = { localPrefix, relays: env.RELAY, timeoutMs: config.linkTimeoutMs, relayTimeoutMs: config.linkTimeoutMs + config.exitTimeoutMs };
  return {
    async send(address, cell) {
      try {
        return await sendCell(address, cell, options);
      } catch (error) {
        if (error instanceof LinkError) throw error;
        throw new LinkError(address, 0, "link_failed", `The relay at ${address} could not be reached or dropped the connection.`);
      }
    },
  };
}

let session: { key: string; proxy: OnionProxy } | null = null;

function onionProxy(env: Env, localPrefix: string): OnionProxy {
  const config = readConfig(env);
  const key = `${localPrefix}|${config.circuitReuseMs}|${config.spareCircuits}|${env.DIRECTORY_AUTHORITIES ?? ""}|${config.familyRule}`;
  if (session?.key !== key) {
    const proxy = new OnionProxy({
      transport: gatewayTransport(env, localPrefix),
      consensus: async () => (await fetchConsensus(env)).document,
      clock: Date.now,
      timer: () => performance.now(),
      reuseMs: config.circuitReuseMs,
      // Entry guards kept in the gateway's Durable Object, across isolates and restarts.
      guards: gatewayGuardStore(env, config.linkTimeoutMs),
      familyRule: config.familyRule,
      // A circuit built ahead of time, so "onion-new-circuit: 1" does not wait for a build.
      spares: config.spareCircuits,
    });
    session = { key, proxy };
  }
  return session.proxy;
}

/** The JSON error answer for a failure to get a request through a circuit. */
export function failure(error: unknown): Response {
  if (error instanceof DirectoryError) return errorResponse(503, error.code, error.message);
  if (isProtocolError(error)) {
    if (error.code === "not_enough_relays" || error.code === "stale_consensus") return errorResponse(503, error.code, error.message);
    return errorResponse(502, "circuit_failed", `The circuit failed: ${error.message}`);
  }
  if (error instanceof LinkError) return errorResponse(502, "circuit_failed", `The circuit failed: ${error.message}`);
  console.error("gateway: unexpected failure", error instanceof Error ? error.name : typeof error);
  return errorResponse(502, "circuit_failed", "The circuit failed.");
}

export interface AnonymousResult {
  result: ExitResult;
  /** Relay ids of the circuit, entry first. */
  path: string[];
  /** Server-Timing value: the circuit's build (when built for this request) and the round trip. */
  timing: string;
}

/**
 * Sends `message` through a circuit. `localPrefix` is this deployment's relay address prefix.
 * Returns the exit's result, or a ready error Response when no circuit could carry it.
 */
export async function sendAnonymously(
  env: Env,
  localPrefix: string,
  message: HttpRequestMessage,
  options: { fresh: boolean; waitUntil: (promise: Promise<unknown>) => void; answered?: Promise<unknown> },
): Promise<AnonymousResult | Response> {
  const proxy = onionProxy(env, localPrefix);
  try {
    const sent = await proxy.request(message, options);
    // A circuit built ahead of time still reports its build, marked as not on this request's path.
    const build = sent.buildMs === undefined ? "" : `circuit-build;dur=${sent.buildMs}${sent.prebuilt ? ';desc="ahead of time"' : ""}, `;
    const timing = `${build}circuit-request;dur=${sent.requestMs}`;
    return { result: sent.result, path: sent.path, timing };
  } catch (error) {
    return failure(error);
  }
}
