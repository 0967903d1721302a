// The auth server's HTTP interface. Thin: parse with valibot, call the query functions, shape the answer.

import {
  AUTH_HPKE_SUITE,
  ChallengeRequestSchema,
  DEFAULT_SEED_MECHANISM,
  LoginRequestSchema,
  MECHANISMS,
  SCRAM_MAX_ITERATIONS,
  SCRAM_MIN_ITERATIONS,
  toBase64Url,
} from "@shallot/protocol";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Context } from "hono";
import { issueChallenge, paramsOf, unknownUserParams } from "./challenges.ts";
import type { AuthConfig, Env } from "./env.ts";
import { parseConfig } from "./env.ts";
import { serverKey } from "./hpke-key.ts";
import { ApiError, NO_STORE, errorResponse } from "./http-error.ts";
import { login } from "./login.ts";
import { MAX_BODY_BYTES, readJson, readRegistration } from "./request-body.ts";
import { type Session, findSession, revokeOtherSessions } from "./sessions.ts";
import { findUser, insertUser, replaceVerifier } from "./users.ts";

type App = { Bindings: Env; Variables: { config: AuthConfig } };

const app = new Hono<App>();

app.get("/health", (c) => c.json({ ok: true }, 200, NO_STORE));

app.use(async (c, next) => {
  const parsed = parseConfig(c.env);
  if (!parsed.ok) return errorResponse(c, 503, "auth_unconfigured", `The auth server is not configured: ${parsed.message}`);
  c.set("config", parsed.config);
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

app.get("/key", async (c) => {
  const key = await serverKey(c.env.AUTH_HPKE_KEY);
  return c.json({ ...AUTH_HPKE_SUITE, keyId: key.keyId, publicKey: toBase64Url(key.publicKey) }, 200, NO_STORE);
});

app.post("/register", async (c) => {
  const registration = await readRegistration(c, c.env.AUTH_HPKE_KEY);
  if (!(await insertUser(c.env.DB, registration, Date.now()))) throw new ApiError(409, "user_exists", "That username is already registered.");
  return c.json({ username: registration.username, mechanism: registration.mechanism }, 201, NO_STORE);
});

app.post("/challenge", async (c) => {
  const { username } = await readJson(c, ChallengeRequestSchema);
  // Needed for unknown usernames, so required for all: otherwise a 503 would tell the two apart.
  const key = await serverKey(c.env.AUTH_HPKE_KEY);
  const { challengeTtlMs, scramIterations } = c.get("config");
  const user = await findUser(c.env.DB, username);
  const params = user ? paramsOf(user) : await unknownUserParams(key.unknownUserKey, username, scramIterations);
  return c.json(await issueChallenge(c.env.DB, username, params, Date.now(), challengeTtlMs), 200, NO_STORE);
});

app.post("/login", async (c) => {
  const request = await readJson(c, LoginRequestSchema);
  return c.json(await login(c.env.DB, request, Date.now(), c.get("config")), 200, NO_STORE);
});

app.get("/me", async (c) => {
  const { username, mechanism } = await requireSession(c);
  return c.json({ username, mechanism }, 200, NO_STORE);
});

app.post("/rotate", async (c) => {
  const session = await requireSession(c);
  const registration = await readRegistration(c, c.env.AUTH_HPKE_KEY);
  if (registration.username !== session.username) throw new ApiError(403, "username_mismatch", "A token may only rotate its own user's verifier.");
  await c.env.DB.batch([replaceVerifier(c.env.DB, registration, Date.now()), revokeOtherSessions(c.env.DB, session.username, session.tokenHash)]);
  return c.json({ username: registration.username, mechanism: registration.mechanism }, 200, NO_STORE);
});

app.get("/", (c) =>
  c.json({
    service: "shallot-auth",
    description: "Challenge-response authentication (seed hashes and SCRAM-SHA-256); see docs/auth.md.",
    mechanisms: MECHANISMS,
    defaultMechanism: DEFAULT_SEED_MECHANISM,
    scramIterations: { default: c.get("config").scramIterations, min: SCRAM_MIN_ITERATIONS, max: SCRAM_MAX_ITERATIONS },
    endpoints: ["GET /key", "POST /register", "POST /challenge", "POST /login", "GET /me", "POST /rotate", "GET /health"],
  }),
);

app.notFound((c) => errorResponse(c, 404, "not_found", `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`));

app.onError((error, c) => {
  if (error instanceof ApiError) return errorResponse(c, error.status, error.code, error.message, error.headers);
  console.error("auth: unhandled error", error instanceof Error ? error.name : typeof error);
  return errorResponse(c, 500, "internal_error", "The auth server failed to handle the request.");
});

export default app;
