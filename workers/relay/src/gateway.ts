// The public endpoint /fetch?url=…: the request's method, end-to-end headers and body go through a
// circuit; the origin's status, headers and body come back, with the onion-circuit header.

import * as v from "valibot";
import { CIRCUIT_HEADER, EXIT_METHODS, type ExitMethod, GATEWAY_USER_AGENT, NEW_CIRCUIT_HEADER, forwardedRequestHeaders, isHttpUrl } from "@shallot/protocol";
import { sendAnonymously } from "./anonymous-request.ts";
import { answerSignal, NO_SIGNAL } from "./answer-signal.ts";
import { type Env, readConfig } from "./env.ts";
import { errorResponse, retryLater } from "./http-error.ts";
import { claimBytes } from "./inflight.ts";
import { readBodyLimited } from "./read-limited.ts";

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

/**
 * The origin's headers as the gateway may serve them. Its documents are served from the gateway's
 * origin, so nothing in them may make a browser act for the origin directly (which would show it the
 * user's address) or keep state across destinations: no cookies, no preload or refresh, redirects
 * sent back through the gateway, and the document sandboxed with no subresources.
 */
function responseHeaders(exitHeaders: [string, string][], target: string, gatewayOrigin: string): Headers {
  const headers = new Headers();
  for (const [name, value] of exitHeaders) {
    if (name === "set-cookie" || name === "link" || name === "refresh") continue;
    if (name === "location") {
      let absolute: string;
      try {
        absolute = new URL(value, target).href;
      } catch {
        continue;
      }
      headers.append(name, `${gatewayOrigin}/fetch?url=${encodeURIComponent(absolute)}`);
      continue;
    }
    headers.append(name, value);
  }
  headers.set("content-security-policy", "sandbox; default-src 'none'");
  headers.set("referrer-policy", "no-referrer");
  headers.set("x-content-type-options", "nosniff");
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
  // The body is held (and sealed into a cell as large) until the answer comes: charged to the
  // isolate's budget before it is read, so a burst of large requests is refused, not fatal.
  const length = request.headers.get("content-length");
  const declared = request.body === null ? 0 : length !== null && /^\d+$/.test(length) ? Number(length) : config.maxBodyBytes;
  if (declared > config.maxBodyBytes) return errorResponse(413, "body_too_large", `The request body exceeds ${config.maxBodyBytes} bytes.`);
  const claim = claimBytes(GATEWAY_COPIES * declared, config.maxInflightBytes);
  if (!claim) return retryLater(errorResponse(503, "gateway_busy", "The gateway holds too many bytes in flight; try again shortly."), 1);
  const fresh = request.headers.get(NEW_CIRCUIT_HEADER) === "1";
  // Only a fresh request leaves work behind (the spare it used is rebuilt); a reused one pays nothing here.
  const answer = fresh ? answerSignal() : NO_SIGNAL;
  try {
    let sent: Awaited<ReturnType<typeof sendAnonymously>>;
    try {
      const body = await readBodyLimited(request, config.maxBodyBytes);
      if (!body) return errorResponse(413, "body_too_large", `The request body exceeds ${config.maxBodyBytes} bytes.`);
      const message = { method: method as ExitMethod, url: target.output, headers: requestHeaders(request.headers), body };
      sent = await sendAnonymously(env, localRelayPrefix(env, request), message, { fresh, waitUntil, answered: answer.sent });
    } finally {
      claim.release();
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
