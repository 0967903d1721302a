// Reads a JSON body and checks it against a protocol schema, or throws the matching ApiError.

import type { Context } from "hono";
import * as v from "valibot";
import { ApiError } from "./http-error.ts";

export const MAX_BODY_BYTES = 64 * 1024;
/** A vote is at most a 4 MiB document and its signature. */
export const MAX_VOTE_BYTES = 4 * 1024 * 1024 + 1024;

export async function readJson<S extends v.GenericSchema>(c: Context, schema: S): Promise<v.InferOutput<S>> {
  let body: unknown;
  try {
    body = JSON.parse(await c.req.text());
  } catch {
    throw new ApiError(400, "invalid_json", "The request body is not valid JSON.");
  }
  const parsed = v.safeParse(schema, body);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const path = issue ? v.getDotPath(issue) : null;
    throw new ApiError(400, "invalid_request", `The request body is invalid${path ? ` at ${path}` : ""}: ${(issue?.message ?? "unknown problem").replace(/\.$/, "")}.`);
  }
  return parsed.output;
}
