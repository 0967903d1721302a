// The gateway as the user's onion proxy: it picks a path from the verified consensus, builds (or
// reuses) a circuit and sends one HTTP request through it. Used by /fetch and by /auth/*.

import * as v from "valibot";
import { CLIENT_NEIGHBOUR, Circuit, CircuitPool, type ExitResult, type HttpRequestMessage, type PooledCircuit, mayRetryOnFreshCircuit, RelayIdSchema, isProtocolError, selectPath } from "@shallot/protocol";

import { ConsensusCache } from "./consensus-cache.ts";
import { DirectoryError } from "./directory-client.ts";
import { type Env, type RelayConfig, readConfig } from "./env.ts";
import { errorResponse } from "./http-error.ts";
import { LinkError, sendCell } from "./link.ts";

const consensus = new ConsensusCache(5_000);
let pool: { pool: CircuitPool; key: string } | null = null;

function circuitPool(env: Env, config: RelayConfig, localPrefix: string): CircuitPool {
  const key = `${localPrefix}|${config.circuitReuseMs}`;
  if (pool?.key !== key) {
    const transport = {
      async send(address: string, cell: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
        if (!address.startsWith(localPrefix)) return sendCell(address, cell, { localPrefix, relays: env.RELAY, timeoutMs: config.linkTimeoutMs, relayTimeoutMs: config.linkTimeoutMs + config.exitTimeoutMs });
        // An entry of this deployment: hand the cell straight to its object, skipping an HTTP layer.
        const id = address.slice(localPrefix.length);
        if (!v.is(RelayIdSchema, id)) throw new LinkError(404, "unknown_relay", "No relay with that id serves here.");
        const result = await env.RELAY.get(env.RELAY.idFromName(id)).handleCell(cell as Uint8Array<ArrayBuffer>, CLIENT_NEIGHBOUR);
        if (!result.ok) throw new LinkError(result.status, result.error, result.message);
        return result.cell as Uint8Array<ArrayBuffer>;
      },
    };
    const build = async () => {
      const document = await consensus.get(env, Date.now());
      return Circuit.build(selectPath(document.relays), transport, { clock: Date.now });
    };
    pool = { key, pool: new CircuitPool(build, config.circuitReuseMs, Date.now) };
  }
  return pool.pool;
}

const isStaleCircuit = (error: unknown, method: string) =>
  mayRetryOnFreshCircuit(error instanceof LinkError || isProtocolError(error) ? error.code : undefined, method);

/** The JSON error answer for a failure to get a request through a circuit. */
export function failure(error: unknown): Response {
  if (error instanceof DirectoryError) return errorResponse(503, error.code, error.message);
  if (isProtocolError(error)) {
    if (error.code === "not_enough_relays") return errorResponse(503, error.code, error.message);
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
  options: { fresh: boolean; waitUntil: (promise: Promise<unknown>) => void },
): Promise<AnonymousResult | Response> {
  const { waitUntil } = options;
  const circuits = circuitPool(env, readConfig(env), localPrefix);
  let lease: { entry: PooledCircuit; reused: boolean; teardown: Promise<void>[] };
  let result: ExitResult;
  let requestStarted = 0;
  try {
    lease = await circuits.acquire(options.fresh);
  } catch (error) {
    consensus.invalidate();
    return failure(error);
  }
  const finish = (entry: PooledCircuit, failed: boolean) => {
    if (failed) circuits.discard(entry);
    const done = circuits.release(entry);
    if (done) waitUntil(done);
  };
  for (const done of lease.teardown) waitUntil(done);
  try {
    requestStarted = performance.now();
    result = await lease.entry.circuit.request(message);
  } catch (error) {
    finish(lease.entry, true);
    // A reused circuit that had expired at a relay: once more on a fresh one.
    if (!lease.reused || !isStaleCircuit(error, message.method)) return failure(error);
    try {
      lease = await circuits.acquire(true);
    } catch (retryError) {
      consensus.invalidate();
      return failure(retryError);
    }
    try {
      requestStarted = performance.now();
      result = await lease.entry.circuit.request(message);
    } catch (retryError) {
      finish(lease.entry, true);
      return failure(retryError);
    }
  }
  finish(lease.entry, false);
  const timing = `${lease.reused ? "" : `circuit-build;dur=${lease.entry.buildMs}, `}circuit-request;dur=${performance.now() - requestStarted}`;
  return { result, path: lease.entry.circuit.hops.map((hop) => hop.relay.id), timing };
}
