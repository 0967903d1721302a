// Bearer-token check for the admin routes, compared in constant time.

import { constantTimeEqual, utf8 } from "@shallot/protocol";
import type { MiddlewareHandler } from "hono";
import type { Env } from "./env.ts";
import { errorResponse } from "./http-error.ts";

const digest = async (text: string) => new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(text)));

export const requireAdmin: MiddlewareHandler<{ Bindings: Env }> = async (c, next) => {
  const token = c.env.ADMIN_TOKEN;
  if (!token) return errorResponse(503, "admin_disabled", "No ADMIN_TOKEN is configured for this deployment.");
  const presented = /^Bearer (.+)$/.exec(c.req.header("authorization") ?? "")?.[1] ?? "";
  // Hashing first makes the comparison constant-time whatever the lengths.
  if (!constantTimeEqual(await digest(presented), await digest(token))) {
    return errorResponse(401, "unauthorized", "A valid admin bearer token is required.");
  }
  await next();
};
