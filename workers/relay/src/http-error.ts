// The one error shape every endpoint answers with: { error, message }, never a stack trace.

import { errorBody } from "@shallot/protocol";
import type { BodyRefusal } from "./read-limited.ts";

export const errorResponse = (status: number, code: string, message: string): Response =>
  Response.json(errorBody(code, message), { status, headers: { "cache-control": "no-store" } });

/** Adds Retry-After (whole seconds) to a refusal that will pass: a cap, a rate limit, a busy relay. */
export function retryLater(response: Response, seconds: number | undefined): Response {
  if (seconds !== undefined) response.headers.set("retry-after", String(Math.max(1, Math.ceil(seconds))));
  return response;
}

export const bodyTooLarge = (limit: number): Response => errorResponse(413, "body_too_large", `The request body exceeds ${limit} bytes.`);

/** The answer to a body readBodyCharged refused; `busy` names the worker's own 503. */
export function bodyRefused(reason: BodyRefusal, limit: number, timeoutMs: number, busyCode: string, busyMessage: string): Response {
  switch (reason) {
    case "too_large":
      return bodyTooLarge(limit);
    case "busy":
      return retryLater(errorResponse(503, busyCode, busyMessage), 1);
    case "timeout":
      return errorResponse(408, "body_timeout", `The request body did not arrive within ${timeoutMs} ms.`);
    case "broken":
      return errorResponse(400, "body_incomplete", "The request body ended before its declared length, or the connection broke.");
  }
}
