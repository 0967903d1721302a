// GET /page-config: where the browser page finds the consensus and the key it must verify it with,
// and how long it reuses a circuit (the gateway's CIRCUIT_REUSE_MS, so the page rotates alike).

import type { Env } from "./env.ts";
import { readConfig } from "./env.ts";
import { errorResponse } from "./http-error.ts";

export function pageConfig(env: Env): Response {
  // The page runs in the user's browser, so it needs the directory's public URL, not a binding.
  const directoryUrl = (env.DIRECTORY_PUBLIC_URL ?? env.DIRECTORY_URL)?.replace(/\/+$/, "");
  const directoryKey = env.DIRECTORY_PUBLIC_KEY;
  if (!directoryUrl || !directoryKey) {
    return errorResponse(503, "misconfigured", "DIRECTORY_PUBLIC_URL (or DIRECTORY_URL) and DIRECTORY_PUBLIC_KEY must be set for the browser page.");
  }
  const { circuitReuseMs } = readConfig(env);
  return Response.json({ directoryUrl, directoryKey, circuitReuseMs }, { headers: { "cache-control": "no-store" } });
}
