// The one error shape every endpoint answers with: { error, message }, never a stack trace.

import { errorBody } from "@shallot/protocol";

export const errorResponse = (status: number, code: string, message: string): Response =>
  Response.json(errorBody(code, message), { status, headers: { "cache-control": "no-store" } });
