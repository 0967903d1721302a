// The one error shape every endpoint answers with: { error, message }, never a stack trace.

import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

export class ApiError extends HTTPException {
  constructor(
    status: ContentfulStatusCode,
    readonly code: string,
    message: string,
  ) {
    super(status, { message });
  }
}

export const errorResponse = (status: number, code: string, message: string): Response =>
  Response.json({ error: code, message }, { status, headers: { "cache-control": "no-store" } });
