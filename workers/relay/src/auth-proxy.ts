// POST /auth/register and /auth/login: the gateway, acting as the user's onion proxy, runs the auth
// flows itself (packages/protocol's auth client): it computes the verifier or the response, and
// sends every request through a circuit, encapsulated with Oblivious HTTP to the auth server's
// pinned key. The password never leaves this worker; the exit sees one route and ciphertext of one
// length, and cannot answer in the server's place. The key comes from this worker's configuration
// (AUTH_URL, AUTH_PUBLIC_KEY) or the request's `serverKey`, never from the network.

import * as v from "valibot";
import {
  AuthClientError,
  type Bytes,
  type EncapsulatedPost,
  MechanismSchema,
  OHTTP_PATH,
  SCRAM_DEFAULT_ITERATIONS,
  SCRAM_MAX_ITERATIONS,
  SCRAM_MIN_ITERATIONS,
  UsernameSchema,
  fromBase64Url,
  fromUtf8,
  isHttpUrl,
  isWellFormedPassword,
  loginAccount,
  ohttpChannel,
  registerAccount,
} from "@shallot/protocol";
import { sendAnonymously } from "./anonymous-request.ts";
import type { Env } from "./env.ts";
import { CIRCUIT_HEADER, localRelayPrefix } from "./gateway.ts";
import { errorResponse } from "./http-error.ts";
import { readBodyLimited } from "./read-limited.ts";

const Password = v.pipe(
  v.string("password must be a string."),
  v.minLength(1, "password must not be empty."),
  v.maxLength(1024, "password is at most 1024 characters."),
  // UTF-8 has no lone surrogate: "\ud800x" and "\udfffx" would both hash as "\ufffdx", one password.
  v.check(isWellFormedPassword, "password must be well-formed Unicode (no lone surrogates)."),
);
const Server = v.pipe(v.string(), v.maxLength(2048), v.check(isHttpUrl, "server must be an absolute http(s) URL."));
const ServerKey = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/, "serverKey is the auth server's X25519 public key: 32 bytes in base64url (43 characters)."));
const Body = v.strictObject({ username: UsernameSchema, password: Password, mechanism: v.optional(MechanismSchema), server: v.optional(Server), serverKey: v.optional(ServerKey) });

const trimUrl = (url: string) => url.replace(/\/+$/, "");

/** The server to talk to and the key to encrypt to, or the error answer: a server that is not the pinned one needs its key given. */
function pinnedServer(env: Env, server: string | undefined, serverKey: string | undefined): { url: string; publicKey: Bytes } | Response {
  const pinned = env.AUTH_URL ? trimUrl(env.AUTH_URL) : undefined;
  const url = server === undefined ? pinned : trimUrl(server);
  if (!url) return errorResponse(503, "auth_unconfigured", 'No auth server is configured (AUTH_URL); pass "server" and "serverKey".');
  if (serverKey !== undefined) return { url, publicKey: fromBase64Url(serverKey) };
  if (url !== pinned) {
    return errorResponse(400, "server_key_required", `${url} is not this gateway's pinned auth server; pass "serverKey", its X25519 public key (base64url) as you obtained it out of band. It is never fetched through the circuit.`);
  }
  const key = env.AUTH_PUBLIC_KEY && /^[A-Za-z0-9_-]{43}$/.test(env.AUTH_PUBLIC_KEY) ? env.AUTH_PUBLIC_KEY : undefined;
  if (!key) return errorResponse(503, "auth_unconfigured", "The gateway has no valid AUTH_PUBLIC_KEY (the auth server's X25519 public key, base64url) to encrypt to.");
  return { url, publicKey: fromBase64Url(key) };
}

/** The configured minimum of SCRAM iterations a challenge may ask for (AUTH_MIN_ITERATIONS, default 100,000). */
function minIterations(env: Env): number | Response {
  const raw = env.AUTH_MIN_ITERATIONS;
  if (raw === undefined || raw === "") return SCRAM_DEFAULT_ITERATIONS;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < SCRAM_MIN_ITERATIONS || value > SCRAM_MAX_ITERATIONS) {
    return errorResponse(503, "auth_unconfigured", `AUTH_MIN_ITERATIONS must be an integer from ${SCRAM_MIN_ITERATIONS} to ${SCRAM_MAX_ITERATIONS}.`);
  }
  return value;
}

/** A ready answer that ends the flow early (the circuit or the exit failed). */
class Early extends Error {
  readonly response: Response;
  constructor(response: Response) {
    super("early answer");
    this.response = response;
  }
}

export async function handleAuthFlow(kind: "register" | "login", request: Request, env: Env, waitUntil: (promise: Promise<unknown>) => void): Promise<Response> {
  const raw = await readBodyLimited(request, 16 * 1024);
  if (!raw) return errorResponse(413, "body_too_large", "The request body exceeds 16 KiB.");
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(raw));
  } catch {
    return errorResponse(400, "invalid_json", "The body must be JSON.");
  }
  const parsed = v.safeParse(Body, json);
  if (!parsed.success) return errorResponse(400, "invalid_request", parsed.issues[0].message);
  const { username, password, mechanism } = parsed.output;
  const server = pinnedServer(env, parsed.output.server, parsed.output.serverKey);
  if (server instanceof Response) return server;
  const minimum = minIterations(env);
  if (minimum instanceof Response) return minimum;

  let path: string[] = [];
  /** The one call that sends a request through a circuit: an encapsulated POST to <server>/ohttp. */
  const exchange: EncapsulatedPost = async (body, contentType) => {
    const message = { method: "POST" as const, url: `${server.url}${OHTTP_PATH}`, headers: [["content-type", contentType]] as [string, string][], body };
    const sent = await sendAnonymously(env, localRelayPrefix(env, request), message, { fresh: false, waitUntil });
    if (sent instanceof Response) throw new Early(sent);
    path = sent.path;
    if (!sent.result.ok) throw new Early(errorResponse(sent.result.error.status, sent.result.error.error, sent.result.error.message));
    const { status, headers, body: answer } = sent.result.response;
    return { status, contentType: headers.find(([name]) => name.toLowerCase() === "content-type")?.[1] ?? null, body: answer };
  };

  let answer: Response;
  try {
    const channel = await ohttpChannel(server, exchange);
    const result = kind === "register" ? await registerAccount(channel, { username, password }, mechanism) : await loginAccount(channel, { username, password }, { mechanism, minIterations: minimum });
    answer = Response.json(result.body, { status: result.status });
  } catch (error) {
    if (error instanceof Early) answer = error.response;
    // A serverKey nothing can be encrypted to is the request's fault; every other refusal is the server's answer's.
    else if (error instanceof AuthClientError) answer = errorResponse(error.code === "bad_server_key" || error.code === "invalid_password" ? 400 : 502, error.code, error.message);
    else throw error;
  }
  if (path.length > 0) answer.headers.set(CIRCUIT_HEADER, path.join(","));
  answer.headers.set("cache-control", "no-store");
  return answer;
}
