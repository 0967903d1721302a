// The one error shape every endpoint answers with: { error, message }, never a stack trace.

import { errorBody } from "@shallot/protocol";

export const errorResponse = (status: number, code: string, message: string): Response =>
  Response.json(errorBody(code, message), { status, headers: { "cache-control": "no-store" } });

/** Adds Retry-After (whole seconds) to a refusal that will pass: a cap, a rate limit, a busy relay. */
export function retryLater(response: Response, seconds: number | undefined): Response {
  if (seconds !== undefined) response.headers.set("retry-after", String(Math.max(1, Math.ceil(seconds))));
  return response;
}
