// The auth server's HTTP interface. Thin: parse with valibot, call the query functions, shape the answer.
// The same routes answer plain JSON (direct use, the seed's curl flow) and Oblivious HTTP (POST /ohttp).

import {
  AUTH_HPKE_SUITE,
  type Bytes,
  ChallengeRequestSchema,
  LoginRequestSchema,
  MECHANISMS,
  OHTTP_KEYS_TYPE,
  PuzzleSolutionSchema,
  RotateProofSchema,
  SCRAM_MAX_ITERATIONS,
  SCRAM_MIN_ITERATIONS,
  SCRAM_SHA_256,
  encodeKeyConfigs,
  rotationOperation,
  toBase64Url,
} from "@shallot/protocol";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Context } from "hono";
import * as v from "valibot";
import { admitChallenge, admitRegistration } from "./admission.ts";
import { issueChallenge, paramsOf, unknownUserParams } from "./challenges.ts";
import type { AuthConfig, Env } from "./env.ts";
import { parseConfig } from "./env.ts";
import { serverKey } from "./hpke-key.ts";
import { ApiError, NO_STORE, errorResponse } from "./http-error.ts";
import { channelBindingOf, handleEncapsulated } from "./ohttp-gateway.ts";
import { checkProof } from "./proof.ts";
import { MAX_BODY_BYTES, readJson, readRegistration } from "./request-body.ts";
import { type Session, capSessions, findSession, newSession, pruneSessions, revokeOtherSessions, revokeSession } from "./sessions.ts";
import { findUser, insertUser, replaceVerifier } from "./users.ts";

type App = { Bindings: Env; Variables: { config: AuthConfig; channelBinding: Bytes | undefined } };

const app = new Hono<App>();

app.get("/health", (c) => c.json({ ok: true }, 200, NO_STORE));

app.use(async (c, next) => {
  const parsed = parseConfig(c.env);
  if (!parsed.ok) return errorResponse(c, 503, "auth_unconfigured", `The auth server is not configured: ${parsed.message}`);
  c.set("config", parsed.config);
  // Read here, before bodyLimit may replace the Request object the gateway registered.
  c.set("channelBinding", channelBindingOf(c.req.raw));
  await next();
});

app.use(bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => errorResponse(c, 413, "payload_too_large", `Request bodies are limited to ${MAX_BODY_BYTES} bytes.`) }));

/** The session named by `Authorization: Bearer <token>`, or a 401. */
async function requireSession(c: Context<App>): Promise<Session> {
  const match = /^Bearer +(\S+)$/i.exec(c.req.header("Authorization") ?? "");
  const session = match ? await findSession(c.env.DB, match[1]!, Date.now()) : null;
  if (!session) throw new ApiError(401, "invalid_token", "A valid bearer token is required (Authorization: Bearer <token>).", { "WWW-Authenticate": 'Bearer realm="shallot-auth"' });
  return session;
}

/** For operators and direct users to copy out of band; clients pin the key and never fetch it through a circuit. */
app.get("/key", async (c) => {
  const key = await serverKey(c.env.AUTH_HPKE_KEY);
  return c.json({ ...AUTH_HPKE_SUITE, keyId: key.keyId, ohttpKeyId: key.ohttpKeyId, publicKey: toBase64Url(key.publicKey) }, 200, NO_STORE);
});

/** RFC 9458 §3.2 key configurations (RFC 9540's well-known location). */
app.get("/.well-known/ohttp-gateway", async (c) => {
  const key = await serverKey(c.env.AUTH_HPKE_KEY);
  return c.body(encodeKeyConfigs([{ keyId: key.ohttpKeyId, publicKey: key.publicKey }]), 200, { ...NO_STORE, "Content-Type": OHTTP_KEYS_TYPE });
});

app.post("/ohttp", (c) => handleEncapsulated(c.req.raw, c.env, (request) => Promise.resolve(app.fetch(request, c.env, executionContext(c)))));

app.post("/register", async (c) => {
  const { limits } = c.get("config");
  const db = c.env.DB;
  const now = Date.now();
  const { registration, extra } = await readRegistration(c, c.env.AUTH_HPKE_KEY, { pow: v.optional(PuzzleSolutionSchema) });
  const puzzleKey = async () => (await serverKey(c.env.AUTH_HPKE_KEY)).puzzleKey;
  const counting = await admitRegistration({ db, limits, username: registration.username, pow: extra.pow, now, puzzleKey });
  const [inserted] = await db.batch([insertUser(db, registration, now), ...counting]);
  if (inserted!.results.length === 0) throw new ApiError(409, "user_exists", "That username is already registered.");
  return c.json({ username: registration.username, mechanism: registration.mechanism }, 201, NO_STORE);
});

app.post("/challenge", async (c) => {
  const { username, clientNonce, pow } = await readJson(c, ChallengeRequestSchema);
  // Needed for unknown usernames, so required for all: otherwise a 503 would tell the two apart.
  const key = await serverKey(c.env.AUTH_HPKE_KEY);
  const { challengeTtlMs, scramIterations, limits } = c.get("config");
  const db = c.env.DB;
  const now = Date.now();
  const user = await findUser(db, username);
  const params = user ? paramsOf(user) : await unknownUserParams(key.unknownUserKey, username, scramIterations);
  if (params.mechanism === SCRAM_SHA_256 && clientNonce === undefined) {
    throw new ApiError(400, "invalid_request", "A SCRAM challenge needs clientNonce (32 to 128 lowercase hex characters), as RFC 5802's client-first message.");
  }
  const counting = await admitChallenge({ db, limits, username, pow, now, puzzleKey: async () => key.puzzleKey });
  const issued = issueChallenge(db, username, params, clientNonce, now, challengeTtlMs, limits.liveChallengesPerUser);
  await db.batch([...issued.statements, ...counting]);
  return c.json(issued.body, 200, NO_STORE);
});

app.post("/login", async (c) => {
  const request = await readJson(c, LoginRequestSchema);
  const { tokenTtlMs, limits } = c.get("config");
  const db = c.env.DB;
  const now = Date.now();
  const { user, serverSignature } = await checkProof(db, request, now, limits, c.get("channelBinding"));
  const session = await newSession(db, user.username, now, tokenTtlMs);
  await db.batch([session.insert, capSessions(db, user.username, limits.maxSessionsPerUser), pruneSessions(db, now)]);
  return c.json({ token: session.token, expiresAt: session.expiresAt, ...(serverSignature ? { serverSignature } : {}) }, 200, NO_STORE);
});

app.get("/me", async (c) => {
  const { username, mechanism } = await requireSession(c);
  return c.json({ username, mechanism }, 200, NO_STORE);
});

/** A token alone never rotates: the body carries a fresh proof of the current password too. */
app.post("/rotate", async (c) => {
  const session = await requireSession(c);
  const { limits } = c.get("config");
  const { registration, extra } = await readRegistration(c, c.env.AUTH_HPKE_KEY, RotateProofSchema.entries);
  if (registration.username !== session.username) throw new ApiError(403, "username_mismatch", "A token may only rotate its own user's verifier.");
  const now = Date.now();
  // The proof must be for this rotation, to this verifier: a login's proof (seen by an exit on a
  // plain HTTP path, beside the token) cannot hand the account to a verifier of the thief's choosing.
  const operation = await rotationOperation(registration);
  const { serverSignature } = await checkProof(c.env.DB, { username: session.username, ...extra }, now, limits, c.get("channelBinding"), operation);
  await c.env.DB.batch([replaceVerifier(c.env.DB, registration, now), revokeOtherSessions(c.env.DB, session.username, session.tokenHash)]);
  return c.json({ username: registration.username, mechanism: registration.mechanism, ...(serverSignature ? { serverSignature } : {}) }, 200, NO_STORE);
});

app.post("/logout", async (c) => {
  const session = await requireSession(c);
  await revokeSession(c.env.DB, session.tokenHash).run();
  return c.json({ revoked: true }, 200, NO_STORE);
});

app.get("/", (c) =>
  c.json({
    service: "shallot-auth",
    description: "Challenge-response authentication (SCRAM-SHA-256, and the seed's H(password) scheme); JSON, or Oblivious HTTP at POST /ohttp; see docs/auth.md.",
    mechanisms: MECHANISMS,
    defaultMechanism: SCRAM_SHA_256,
    scramIterations: { default: c.get("config").scramIterations, min: SCRAM_MIN_ITERATIONS, max: SCRAM_MAX_ITERATIONS },
    endpoints: ["GET /key", "GET /.well-known/ohttp-gateway", "POST /ohttp", "POST /register", "POST /challenge", "POST /login", "GET /me", "POST /rotate", "POST /logout", "GET /health"],
  }),
);

app.notFound((c) => errorResponse(c, 404, "not_found", `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`));

app.onError((error, c) => {
  if (error instanceof ApiError) return errorResponse(c, error.status, error.code, error.message, error.headers, error.extra);
  console.error("auth: unhandled error", error instanceof Error ? error.name : typeof error);
  return errorResponse(c, 500, "internal_error", "The auth server failed to handle the request.");
});

/** The request's ExecutionContext when the runtime gave one (the inner dispatch passes it on). */
function executionContext(c: Context<App>): Context<App>["executionCtx"] | undefined {
  try {
    return c.executionCtx;
  } catch {
    return undefined;
  }
}

export default app;
