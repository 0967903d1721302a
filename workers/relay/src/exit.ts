// The exit: performs the HTTP request that came out of a circuit and reports the response,
// or the failure, as data for the way back. Never throws.

import { classifyDestination, DeadlineError, DeadlineSet, endToEndHeaders, type ExitError, type ExitResult, forwardedRequestHeaders, type HttpRequestMessage, isCarriableResponse, namesRelayRoute } from "@shallot/protocol";
import { parsePorts } from "./exit-socket.ts";
import type { RelayConfig } from "./env.ts";
import { readBodyLimited } from "./read-limited.ts";

const refuse = (error: string, message: string, status: number): ExitResult => ({ ok: false, error: { error, message, status } satisfies ExitError });
const refusePrivate = () => refuse("destination_refused", "The exit policy refuses loopback, private and link-local destinations.", 403);

/** Headers the local runtimes' egress check (scripts/egress.mjs) puts on its own answers. */
export const EGRESS_REFUSED_HEADER = "shallot-egress-refused";
export const EGRESS_FAILED_HEADER = "shallot-egress-failed";

/** `deadlines`: the exit relay's own, one timer for all its fetches; without it each has its own. */
export async function performExitRequest(
  request: HttpRequestMessage,
  config: Pick<RelayConfig, "allowPrivateDestinations" | "maxBodyBytes" | "exitTimeoutMs" | "exitPolicy" | "exitPorts">,
  deadlines?: DeadlineSet,
): Promise<ExitResult> {
  // A relay that published the exit policy "none" (no Exit flag) is no exit for anyone.
  if (config.exitPolicy === "none") return refuse("destination_refused", "This relay's exit policy refuses every destination.", 403);
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    return refuse("invalid_url", "The destination is not an absolute URL.", 400);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return refuse("invalid_url", "The exit only fetches http and https URLs.", 400);
  if (!config.allowPrivateDestinations && classifyDestination(url) === "private") return refusePrivate();
  if (namesRelayRoute(url)) return refuse("destination_refused", "The exit carries no request to a relay's routes: a circuit may not run inside another.", 403);
  const port = url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
  if (!parsePorts(config.exitPorts)(port)) return refuse("destination_refused", `The exit policy refuses port ${port}.`, 403);
  if (request.body.length > config.maxBodyBytes) return refuse("body_too_large", "The request body exceeds the exit's limit.", 413);

  try {
    // One deadline for the answer and its whole body: an origin that drips its body is cut off too.
    return await (deadlines ?? new DeadlineSet(Date.now)).run(config.exitTimeoutMs, async (signal): Promise<ExitResult> => {
      const response = await fetch(url, {
        method: request.method,
        // By allowlist: no header that could name the sender reaches the origin, whatever its name.
        headers: forwardedRequestHeaders(request.headers),
        body: request.method === "GET" || request.method === "HEAD" ? undefined : request.body,
        redirect: "manual",
        signal,
      });
      // Where the runtime cannot refuse names that resolve to private addresses itself, the local
      // runtimes' egress check (scripts/egress.mjs) does, and says so on its answer.
      if (response.headers.get(EGRESS_REFUSED_HEADER) === "1") return refusePrivate();
      if (response.headers.get(EGRESS_FAILED_HEADER) === "1") return refuse("exit_fetch_failed", "The exit could not reach the destination.", 502);
      // fetch() has already decoded the body, so its former encoding and length no longer apply.
      const headers = endToEndHeaders(response.headers).filter(([name]) => name !== "content-encoding");
      const meta = { status: response.status, statusText: response.statusText, headers };
      if (!isCarriableResponse(meta)) {
        await response.body?.cancel().catch(() => {});
        return refuse("response_unsupported", "The destination's response cannot be carried: a status outside 200-599, more than 256 headers, or an overlong status text.", 502);
      }
      const body = await readBodyLimited(response, config.maxBodyBytes);
      if (body === null) return refuse("response_too_large", "The destination's response exceeds the exit's body limit.", 502);
      return { ok: true, response: { ...meta, body } };
    });
  } catch (error) {
    return error instanceof DeadlineError
      ? refuse("exit_timeout", "The destination did not answer in time.", 504)
      : refuse("exit_fetch_failed", "The exit could not reach the destination.", 502);
  }
}
