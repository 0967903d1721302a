// A directory authority's HTTP interface. Thin: parse with valibot, call the Directory object, shape the answer.

import { RelayIdSchema, RetirementSchema, SignedDescriptorSchema, SignedVoteSchema, logLabel, toBase64Url } from "@shallot/protocol";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import * as v from "valibot";
import { addressRefusal } from "./admission.ts";
import type { DirectoryConfig, Env } from "./env.ts";
import { parseConfig } from "./env.ts";
import { ApiError, DIRECTORY_ERROR_STATUS, errorResponse } from "./http-error.ts";
import { MAX_BODY_BYTES, MAX_VOTE_BYTES, readJson } from "./request-body.ts";
import { signingKey } from "./signing-key.ts";
import { renderStatusPage } from "./status-page.ts";

export { Directory } from "./directory.ts";

type App = { Bindings: Env; Variables: { config: DirectoryConfig } };

const NO_STORE = { "Cache-Control": "no-store" };
// Public signed data, verified by whoever reads it: any page (the relay worker's, for one) may fetch it.
const PUBLIC = { ...NO_STORE, "Access-Control-Allow-Origin": "*" };

// This authority's one object: it owns its relays, its votes and its consensus.
const directory = (env: Env) => env.DIRECTORY.get(env.DIRECTORY.idFromName("directory"));

const app = new Hono<App>();

app.use(async (c, next) => {
  const parsed = parseConfig(c.env);
  if (!parsed.ok) return errorResponse(c, 503, "directory_unconfigured", `The authority is not configured: ${parsed.message}`);
  const own = toBase64Url((await signingKey(parsed.config.signingSeed)).publicKey);
  if (!parsed.config.authorities.some((authority) => authority.key === own)) {
    return errorResponse(c, 503, "directory_unconfigured", "The authority is not configured: DIRECTORY_AUTHORITIES does not list its own key.");
  }
  c.set("config", parsed.config);
  await next();
});

const limit = (maxSize: number) => bodyLimit({ maxSize, onError: (c) => errorResponse(c, 413, "payload_too_large", `Request bodies are limited to ${maxSize} bytes.`) });

const roundParam = (raw: string): number => {
  if (!/^\d{1,16}$/.test(raw)) throw new ApiError(400, "invalid_request", "A round is its start time, in milliseconds since the epoch.");
  return Number(raw);
};

app.post("/descriptors", limit(MAX_BODY_BYTES), async (c) => {
  const signed = await readJson(c, SignedDescriptorSchema);
  const refused = addressRefusal(signed.descriptor.address, c.get("config"));
  if (refused) return errorResponse(c, DIRECTORY_ERROR_STATUS[refused.error], refused.error, refused.message);
  const outcome = await directory(c.env).register(signed);
  if (!outcome.ok) return errorResponse(c, DIRECTORY_ERROR_STATUS[outcome.error], outcome.error, outcome.message);
  const { relayTtlMs, pingIntervalMs } = c.get("config");
  return c.json({ id: outcome.id, ttlMs: relayTtlMs, pingIntervalMs }, 200, NO_STORE);
});

app.delete("/descriptors/:id", limit(MAX_BODY_BYTES), async (c) => {
  const id = c.req.param("id");
  if (!v.is(RelayIdSchema, id)) throw new ApiError(400, "invalid_request", "The path does not name a relay id (64 lowercase hex characters).");
  const retirement = await readJson(c, RetirementSchema);
  if (retirement.id !== id) throw new ApiError(400, "invalid_request", "The retirement's id differs from the id in the path.");
  const outcome = await directory(c.env).retire(retirement);
  if (!outcome.ok) return errorResponse(c, DIRECTORY_ERROR_STATUS[outcome.error], outcome.error, outcome.message);
  return c.json({ id: outcome.id, retired: true }, 200, NO_STORE);
});

app.get("/consensus", async (c) => {
  const signed = await directory(c.env).consensus();
  if (!signed) return errorResponse(c, 503, "no_consensus", "No consensus has been computed yet; the first round is under way.");
  return c.json(signed, 200, PUBLIC);
});

app.get("/consensus/:round", async (c) => {
  const signed = await directory(c.env).consensusOfRound(roundParam(c.req.param("round")));
  return signed ? c.json(signed, 200, PUBLIC) : errorResponse(c, 404, "unknown_round", "This authority has no consensus of that round.");
});

app.post("/votes", limit(MAX_VOTE_BYTES), async (c) => {
  // Shape-checked here, so the object only ever receives a vote's shape (a body nested thousands
  // deep would otherwise overflow the stack copying it into the call).
  const body = await readJson(c, v.unknown());
  if (!v.is(SignedVoteSchema, body)) return errorResponse(c, 400, "bad_vote", "The vote is malformed: it is not a signed vote document.");
  const outcome = await directory(c.env).receiveVote(body);
  if (!outcome.ok) return errorResponse(c, DIRECTORY_ERROR_STATUS[outcome.error], outcome.error, outcome.message);
  return c.json({ accepted: true }, 200, NO_STORE);
});

app.get("/votes/:round", async (c) => c.json(await directory(c.env).votes(roundParam(c.req.param("round"))), 200, PUBLIC));

app.get("/vote", async (c) => {
  const vote = await directory(c.env).ownVote();
  return vote ? c.json(vote, 200, PUBLIC) : errorResponse(c, 404, "unknown_round", "This authority has not voted yet.");
});

app.get("/key", async (c) => {
  const { publicKey } = await signingKey(c.get("config").signingSeed);
  return c.json({ algorithm: "Ed25519", publicKey: toBase64Url(publicKey) });
});

app.get("/health", (c) => c.json({ ok: true }, 200, NO_STORE));

app.get("/", async (c) => c.html(renderStatusPage(await directory(c.env).status()), 200, NO_STORE));

app.notFound((c) => errorResponse(c, 404, "not_found", `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`));

app.onError((error, c) => {
  if (error instanceof ApiError) return errorResponse(c, error.status, error.code, error.message);
  console.error("authority: unhandled error", logLabel(error));
  return errorResponse(c, 500, "internal_error", "The authority failed to handle the request.");
});

export default app;
