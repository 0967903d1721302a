// GET /page-config: the directory authorities the browser page fetches the consensus from and pins
// (it accepts one signed by more than half of them), whether it keeps the family rule, and how long
// it reuses a circuit (the gateway's CIRCUIT_REUSE_MS, so the page rotates alike).

import type { Env } from "./env.ts";
import { readConfig } from "./env.ts";
import { errorResponse } from "./http-error.ts";

export function pageConfig(env: Env): Response {
  const { authorities, familyRule, circuitReuseMs } = readConfig(env);
  // The page runs in the user's browser: it reaches the authorities at their public URLs.
  if (authorities.length === 0) return errorResponse(503, "misconfigured", "DIRECTORY_AUTHORITIES must be set for the browser page.");
  return Response.json({ authorities, familyRule, circuitReuseMs }, { headers: { "cache-control": "no-store" } });
}
