// The public endpoint /fetch?url=…: the request's method, end-to-end headers and body go through a
// circuit; the origin's status, headers and body come back, with the onion-circuit header.

import * as v from "valibot";
import { CIRCUIT_HEADER, EXIT_METHODS, type ExitMethod, GATEWAY_USER_AGENT, NEW_CIRCUIT_HEADER, forwardedRequestHeaders, isHttpUrl } from "@shallot/protocol";
import { sendAnonymously } from "./anonymous-request.ts";
import { answerSignal, NO_SIGNAL } from "./answer-signal.ts";
import { type Env, readConfig } from "./env.ts";
import { bodyRefused, bodyTooLarge, errorResponse } from "./http-error.ts";
import { readBodyCharged } from "./read-limited.ts";
import { responseHeaders } from "./response-headers.ts";

/** The gateway holds a request's body and the layered cell made of it: two copies. */
const GATEWAY_COPIES = 2;

export { CIRCUIT_HEADER, NEW_CIRCUIT_HEADER };

const TargetUrl = v.pipe(
  v.string("The url query parameter is required."),
  v.maxLength(8192, "The URL is too long."),
  v.url("The url query parameter must be an absolute URL."),
  v.check(isHttpUrl, "Only http and https URLs can be fetched."),
);

/**
 * The request headers the gateway sends: the allowlisted ones (docs/protocol.md section 13), minus
 * the cookies (a browser sends the gateway's own, never the destination's) and the user-agent,
 * which is replaced by the uniform one.
 */
function requestHeaders(incoming: Headers): [string, string][] {
  const headers = forwardedRequestHeaders(incoming).filter(([name]) => name !== "cookie" && name !== "user-agent");
  headers.push(["user-agent", GATEWAY_USER_AGENT]);
  return headers;
}

/** Base of the relay addresses of this deployment. */
export const localRelayPrefix = (env: Env, request: Request) => `${env.PUBLIC_URL?.replace(/\/+$/, "") ?? new URL(request.url).origin}/relays/`;

export async function handleGatewayFetch(request: Request, env: Env, waitUntil: (promise: Promise<unknown>) => void): Promise<Response> {
  const config = readConfig(env);
  const query = new URL(request.url).searchParams.get("url");
  const target = v.safeParse(TargetUrl, query ?? undefined);
  if (!target.success) return errorResponse(400, "invalid_url", target.issues[0].message);
  const method = request.method.toUpperCase();
  if (!(EXIT_METHODS as readonly string[]).includes(method)) {
    return errorResponse(405, "method_not_allowed", `The method ${method} cannot be sent through a circuit; use ${EXIT_METHODS.join(", ")}.`);
  }
  const length = request.headers.get("content-length");
  if (length !== null && /^\d+$/.test(length) && Number(length) > config.maxBodyBytes) return bodyTooLarge(config.maxBodyBytes);
  // The body is held (and sealed into a cell as large) until the answer comes: charged to the
  // isolate's budget as it arrives, so a burst of large requests is refused, not fatal, and a
  // stalled upload holds only what it sent, until the deadline.
  const read = await readBodyCharged(request, { limit: config.maxBodyBytes, copies: GATEWAY_COPIES, budget: config.maxInflightBytes, timeoutMs: config.bodyTimeoutMs });
  if (!read.ok) return bodyRefused(read.reason, config.maxBodyBytes, config.bodyTimeoutMs, "gateway_busy", "The gateway holds too many bytes in flight; try again shortly.");
  const fresh = request.headers.get(NEW_CIRCUIT_HEADER) === "1";
  // Only a fresh request leaves work behind (the spare it used is rebuilt); a reused one pays nothing here.
  const answer = fresh ? answerSignal() : NO_SIGNAL;
  try {
    let sent: Awaited<ReturnType<typeof sendAnonymously>>;
    try {
      const message = { method: method as ExitMethod, url: target.output, headers: requestHeaders(request.headers), body: read.body };
      sent = await sendAnonymously(env, localRelayPrefix(env, request), message, { fresh, waitUntil, answered: answer.sent });
    } finally {
      read.claim.release();
    }
    if (sent instanceof Response) return sent;
    const { result, path, timing } = sent;
    if (!result.ok) {
      const response = errorResponse(result.error.status, result.error.error, result.error.message);
      response.headers.set(CIRCUIT_HEADER, path.join(","));
      response.headers.set("server-timing", timing);
      return response;
    }
    const { response } = result;
    const headers = responseHeaders(response.headers, target.output, new URL(request.url).origin);
    headers.set(CIRCUIT_HEADER, path.join(","));
    headers.set("server-timing", timing);
    const nullBody = method === "HEAD" || [101, 204, 205, 304].includes(response.status);
    return new Response(nullBody ? null : answer.watch(response.body), { status: response.status, statusText: response.statusText, headers });
  } finally {
    // Any answer whose body is not watched (an error, none at all) is out as soon as it is returned.
    answer.unlessWatched();
  }
}
