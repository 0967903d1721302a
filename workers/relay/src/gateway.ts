// The public endpoint /fetch?url=…: the gateway acts as the user's onion proxy. It picks a path
// from the verified consensus, builds (or reuses) a circuit, sends the request through it and
// answers with what the exit got back, plus the onion-circuit header.

import * as v from "valibot";
import { CLIENT_NEIGHBOUR, Circuit, EXIT_METHODS, RelayIdSchema, isHttpUrl, type ExitMethod, type ExitResult, endToEndHeaders, isProtocolError, selectPath } from "@shallot/protocol";
import { CircuitPool, type PooledCircuit } from "./circuit-pool.ts";
import { ConsensusCache } from "./consensus-cache.ts";
import { DirectoryError } from "./directory-client.ts";
import { type Env, type RelayConfig, readConfig } from "./env.ts";
import { errorResponse } from "./http-error.ts";
import { LinkError, sendCell } from "./link.ts";
import { readBodyLimited } from "./read-limited.ts";
import { selfBinding } from "./self.ts";

export const CIRCUIT_HEADER = "onion-circuit";
export const NEW_CIRCUIT_HEADER = "onion-new-circuit";

const TargetUrl = v.pipe(
  v.string("The url query parameter is required."),
  v.maxLength(8192, "The URL is too long."),
  v.url("The url query parameter must be an absolute URL."),
  v.check(isHttpUrl, "Only http and https URLs can be fetched."),
);

const consensus = new ConsensusCache(5_000);
let pool: { pool: CircuitPool; key: string } | null = null;

function circuitPool(env: Env, config: RelayConfig, localPrefix: string): CircuitPool {
  const key = `${localPrefix}|${config.circuitReuseMs}`;
  if (pool?.key !== key) {
    const transport = {
      async send(address: string, cell: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
        if (!address.startsWith(localPrefix)) return sendCell(address, cell, { localPrefix, self: selfBinding() });
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

/** Failures after which the same request may go again on a new circuit: the old one was gone. */
const isStaleCircuit = (error: unknown) =>
  (isProtocolError(error) && error.code === "circuit_destroyed") || (error instanceof LinkError && (error.code === "unknown_link" || error.code === "unknown_relay"));

function failure(error: unknown): Response {
  if (error instanceof DirectoryError) return errorResponse(503, error.code, error.message);
  if (isProtocolError(error)) {
    if (error.code === "not_enough_relays") return errorResponse(503, error.code, error.message);
    return errorResponse(502, "circuit_failed", `The circuit failed: ${error.message}`);
  }
  if (error instanceof LinkError) return errorResponse(502, "circuit_failed", `The circuit failed: ${error.message}`);
  console.error("gateway: unexpected failure", error instanceof Error ? error.name : typeof error);
  return errorResponse(502, "circuit_failed", "The circuit failed.");
}

export async function handleGatewayFetch(request: Request, env: Env, waitUntil: (promise: Promise<unknown>) => void): Promise<Response> {
  const config = readConfig(env);
  const query = new URL(request.url).searchParams.get("url");
  const target = v.safeParse(TargetUrl, query ?? undefined);
  if (!target.success) return errorResponse(400, "invalid_url", target.issues[0].message);
  const method = request.method.toUpperCase();
  if (!(EXIT_METHODS as readonly string[]).includes(method)) {
    return errorResponse(405, "method_not_allowed", `The method ${method} cannot be sent through a circuit; use ${EXIT_METHODS.join(", ")}.`);
  }
  const body = await readBodyLimited(request, config.maxBodyBytes);
  if (!body) return errorResponse(413, "body_too_large", `The request body exceeds ${config.maxBodyBytes} bytes.`);

  const localPrefix = `${env.PUBLIC_URL?.replace(/\/+$/, "") ?? new URL(request.url).origin}/relays/`;
  const circuits = circuitPool(env, config, localPrefix);
  const message = { method: method as ExitMethod, url: target.output, headers: endToEndHeaders(request.headers), body };
  const fresh = request.headers.get(NEW_CIRCUIT_HEADER) === "1";

  let lease: { entry: PooledCircuit; reused: boolean; teardown: Promise<void>[] };
  let result: ExitResult;
  let requestStarted = 0;
  try {
    lease = await circuits.acquire(fresh);
  } catch (error) {
    consensus.invalidate();
    return failure(error);
  }
  try {
    for (const done of lease.teardown) waitUntil(done);
    try {
      requestStarted = performance.now();
      result = await lease.entry.circuit.request(message);
    } catch (error) {
      if (!lease.reused || !isStaleCircuit(error)) throw error;
      // The reused circuit had expired at a relay; the request never reached the exit.
      circuits.discard(lease.entry);
      const done = circuits.release(lease.entry);
      if (done) waitUntil(done);
      lease = await circuits.acquire(true);
      requestStarted = performance.now();
      result = await lease.entry.circuit.request(message);
    }
  } catch (error) {
    circuits.discard(lease.entry);
    const done = circuits.release(lease.entry);
    if (done) waitUntil(done);
    return failure(error);
  }
  const done = circuits.release(lease.entry);
  if (done) waitUntil(done);

  const path = lease.entry.circuit.hops.map((hop) => hop.relay.id).join(",");
  // What the circuit cost this request: its build (when it was built for it) and the round trip.
  const timing = `${lease.reused ? "" : `circuit-build;dur=${lease.entry.buildMs}, `}circuit-request;dur=${performance.now() - requestStarted}`;
  if (!result.ok) {
    const response = errorResponse(result.error.status, result.error.error, result.error.message);
    response.headers.set(CIRCUIT_HEADER, path);
    response.headers.set("server-timing", timing);
    return response;
  }
  const { response } = result;
  const headers = new Headers();
  for (const [name, value] of response.headers) headers.append(name, value);
  headers.set(CIRCUIT_HEADER, path);
  headers.set("server-timing", timing);
  // The origin's document is served from the gateway's origin: a browser must not let it act as
  // the gateway (scripts, storage), so it runs sandboxed as an opaque origin.
  headers.set("content-security-policy", "sandbox");
  headers.set("x-content-type-options", "nosniff");
  const nullBody = method === "HEAD" || [101, 204, 205, 304].includes(response.status);
  return new Response(nullBody ? null : response.body, { status: response.status, statusText: response.statusText, headers });
}

