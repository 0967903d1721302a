// Every error the auth server answers is JSON `{ error, message }` with a 4xx/5xx status.

import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

export type ErrorCode =
  | "invalid_json"
  | "invalid_request"
  | "payload_too_large"
  | "not_found"
  | "user_exists"
  | "invalid_credentials"
  | "challenge_expired"
  | "pow_required"
  | "busy"
  | "invalid_token"
  | "username_mismatch"
  | "unknown_key"
  | "sealed_body_invalid"
  | "unsupported_suite"
  | "encapsulation_invalid"
  | "auth_unconfigured"
  | "internal_error";

/** Thrown by request handling; app.onError turns it into the JSON body. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly status: ContentfulStatusCode;
  readonly code: ErrorCode;
  readonly headers: Record<string, string>;
  /** Fields beside error and message (the puzzle of a pow_required). */
  readonly extra: Record<string, unknown>;
  constructor(status: ContentfulStatusCode, code: ErrorCode, message: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
    this.extra = extra;
  }
}

export const NO_STORE = { "Cache-Control": "no-store" } as const;

export const errorResponse = (c: Context, status: ContentfulStatusCode, error: ErrorCode, message: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}): Response =>
  c.json({ error, message, ...extra }, status, { ...NO_STORE, ...headers });

/** One answer for every login failure, so the cause (unknown user, wrong response, spent challenge) stays hidden. */
export const invalidCredentials = () => new ApiError(401, "invalid_credentials", "The username, challenge or response is not valid.");
/**
 * No live challenge of that id for that name: never a guess, and nothing the asker did not know
 * (it holds the id). Told apart so that a client whose challenge was evicted (4 live a name) asks
 * for another instead of reporting a wrong password.
 */
export const challengeExpired = () => new ApiError(401, "challenge_expired", "The challenge is unknown, already used, expired, evicted or for another name; ask for a new one.");
