// Reads a JSON body and checks it against a protocol schema, or throws the matching ApiError.

import { type Registration, RegistrationSchema, SealedRegistrationSchema, openRegistration } from "@shallot/protocol";
import type { Context } from "hono";
import * as v from "valibot";
import { serverKey } from "./hpke-key.ts";
import { ApiError } from "./http-error.ts";

export const MAX_BODY_BYTES = 16 * 1024;

async function readJsonValue(c: Context): Promise<unknown> {
  try {
    return JSON.parse(await c.req.text());
  } catch {
    throw new ApiError(400, "invalid_json", "The request body is not valid JSON.");
  }
}

function check<S extends v.GenericSchema>(schema: S, body: unknown, what = "The request body"): v.InferOutput<S> {
  const parsed = v.safeParse(schema, body);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const path = issue ? v.getDotPath(issue) : null;
    throw new ApiError(400, "invalid_request", `${what} is invalid${path ? ` at ${path}` : ""}: ${(issue?.message ?? "unknown problem").replace(/\.$/, "")}.`);
  }
  return parsed.output;
}

export const readJson = async <S extends v.GenericSchema>(c: Context, schema: S): Promise<v.InferOutput<S>> => check(schema, await readJsonValue(c));

/**
 * A registration in clear, or `{ sealed }` opened with the server's HPKE key, beside the fields of
 * `extra` (the puzzle of POST /register, the proof of POST /rotate), which are checked apart.
 */
export async function readRegistration<E extends v.ObjectEntries>(
  c: Context,
  hpkeSecret: string | undefined,
  extra: E,
): Promise<{ registration: Registration; extra: v.InferOutput<v.StrictObjectSchema<E, undefined>> }> {
  const body = await readJsonValue(c);
  if (typeof body !== "object" || body === null || Array.isArray(body)) return { registration: check(RegistrationSchema, body), extra: check(v.strictObject(extra), {}) };
  const rest: Record<string, unknown> = {};
  const picked: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(body)) (name in extra ? picked : rest)[name] = value;
  const checkedExtra = check(v.strictObject(extra), picked);
  if (!("sealed" in rest)) return { registration: check(RegistrationSchema, rest), extra: checkedExtra };
  const { sealed } = check(SealedRegistrationSchema, rest);
  const opened = await openRegistration(await serverKey(hpkeSecret), sealed);
  if (!opened.ok) throw new ApiError(400, opened.error, opened.message);
  return { registration: opened.registration, extra: checkedExtra };
}
