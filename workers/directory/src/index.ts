// The directory's HTTP interface. Thin: parse with valibot, call the Directory object, shape the answer.

import { RelayIdSchema, RetirementSchema, SignedDescriptorSchema, logLabel, toBase64Url } from "@shallot/protocol";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import * as v from "valibot";
import type { DirectoryConfig, Env } from "./env.ts";
import { parseConfig } from "./env.ts";
import { ApiError, DIRECTORY_ERROR_STATUS, errorResponse } from "./http-error.ts";
import { MAX_BODY_BYTES, readJson } from "./request-body.ts";
import { signingKey } from "./signing-key.ts";
import { renderStatusPage } from "./status-page.ts";

export { Directory } from "./directory.ts";

type App = { Bindings: Env; Variables: { config: DirectoryConfig } };

const NO_STORE = { "Cache-Control": "no-store" };

// A single instance: the consensus is one list, so one object owns it.
const directory = (env: Env) => env.DIRECTORY.get(env.DIRECTORY.idFromName("directory"));

const app = new Hono<App>();

app.use(async (c, next) => {
  const parsed = parseConfig(c.env);
  if (!parsed.ok) return errorResponse(c, 503, "directory_unconfigured", `The directory is not configured: ${parsed.message}`);
  c.set("config", parsed.config);
  await next();
});

app.use(bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => errorResponse(c, 413, "payload_too_large", `Request bodies are limited to ${MAX_BODY_BYTES} bytes.`) }));

app.post("/descriptors", async (c) => {
  const signed = await readJson(c, SignedDescriptorSchema);
  const outcome = await directory(c.env).register(signed);
  if (!outcome.ok) return errorResponse(c, DIRECTORY_ERROR_STATUS[outcome.error], outcome.error, outcome.message);
  const { relayTtlMs, pingIntervalMs } = c.get("config");
  return c.json({ id: outcome.id, ttlMs: relayTtlMs, pingIntervalMs }, 200, NO_STORE);
});

app.delete("/descriptors/:id", async (c) => {
  const id = c.req.param("id");
  if (!v.is(RelayIdSchema, id)) throw new ApiError(400, "invalid_request", "The path does not name a relay id (64 lowercase hex characters).");
  const retirement = await readJson(c, RetirementSchema);
  if (retirement.id !== id) throw new ApiError(400, "invalid_request", "The retirement's id differs from the id in the path.");
  const outcome = await directory(c.env).retire(retirement);
  if (!outcome.ok) return errorResponse(c, DIRECTORY_ERROR_STATUS[outcome.error], outcome.error, outcome.message);
  return c.json({ id: outcome.id, retired: true }, 200, NO_STORE);
});

// Public signed data, verified by whoever reads it: any page (the relay worker's, for one) may fetch it.
app.get("/consensus", async (c) => c.json(await directory(c.env).consensus(), 200, { ...NO_STORE, "Access-Control-Allow-Origin": "*" }));

app.get("/key", async (c) => {
  const { publicKey } = await signingKey(c.get("config").signingSeed);
  return c.json({ algorithm: "Ed25519", publicKey: toBase64Url(publicKey) });
});

app.get("/health", (c) => c.json({ ok: true }, 200, NO_STORE));

app.get("/", async (c) => {
  const [status, key] = await Promise.all([directory(c.env).status(), signingKey(c.get("config").signingSeed)]);
  return c.html(renderStatusPage(status, toBase64Url(key.publicKey)), 200, NO_STORE);
});

app.notFound((c) => errorResponse(c, 404, "not_found", `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`));

app.onError((error, c) => {
  if (error instanceof ApiError) return errorResponse(c, error.status, error.code, error.message);
  console.error("directory: unhandled error", logLabel(error));
  return errorResponse(c, 500, "internal_error", "The directory failed to handle the request.");
});

export default app;
