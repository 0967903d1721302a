// Every error the directory answers is JSON `{ error, message }` with a 4xx/5xx status.

import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { DirectoryErrorCode } from "./directory.ts";

export type ErrorCode =
  | DirectoryErrorCode
  | "invalid_json"
  | "invalid_request"
  | "payload_too_large"
  | "not_found"
  | "directory_unconfigured"
  | "no_consensus"
  | "unknown_round"
  | "internal_error";

/** Thrown by request parsing; app.onError turns it into the JSON body. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const DIRECTORY_ERROR_STATUS = {
  bad_signature: 400,
  stale_descriptor: 400,
  stale_retirement: 400,
  unknown_relay: 404,
  address_refused: 400,
  directory_full: 503,
  host_not_allowed: 403,
  bad_vote: 400,
  stale_vote: 400,
} as const satisfies Record<DirectoryErrorCode, ContentfulStatusCode>;

export const errorResponse = (c: Context, status: ContentfulStatusCode, error: ErrorCode, message: string): Response =>
  c.json({ error, message }, status, { "Cache-Control": "no-store" });
