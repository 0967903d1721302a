// POST /auth/register and /auth/login: the gateway, acting as the user's onion proxy, runs the auth
// flows itself (packages/protocol's auth client): it computes the verifier or the response, seals
// registrations to the server's key, and sends every request through a circuit. The password never
// leaves this worker; the exit relay sees only sealed bodies, nonces and proofs.

import * as v from "valibot";
import { type AuthExchange, AuthClientError, MechanismSchema, UsernameSchema, fromUtf8, isHttpUrl, loginAccount, registerAccount, utf8 } from "@shallot/protocol";
import { sendAnonymously } from "./anonymous-request.ts";
import type { Env } from "./env.ts";
import { CIRCUIT_HEADER, localRelayPrefix } from "./gateway.ts";
import { errorResponse } from "./http-error.ts";
import { readBodyLimited } from "./read-limited.ts";

const Password = v.pipe(v.string("password must be a string."), v.minLength(1, "password must not be empty."), v.maxLength(1024, "password is at most 1024 characters."));
const Server = v.pipe(v.string(), v.maxLength(2048), v.check(isHttpUrl, "server must be an absolute http(s) URL."));
const RegisterBody = v.strictObject({ username: UsernameSchema, password: Password, mechanism: v.optional(MechanismSchema), server: v.optional(Server) });
const LoginBody = v.strictObject({ username: UsernameSchema, password: Password, mechanism: v.optional(MechanismSchema), server: v.optional(Server) });

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
  const parsed = v.safeParse(kind === "register" ? RegisterBody : LoginBody, json);
  if (!parsed.success) return errorResponse(400, "invalid_request", parsed.issues[0].message);
  const { username, password } = parsed.output;
  const { mechanism } = parsed.output;
  const server = (parsed.output.server ?? env.AUTH_URL)?.replace(/\/+$/, "");
  if (!server) return errorResponse(503, "auth_unconfigured", "No auth server is configured (AUTH_URL); pass \"server\".");

  let path: string[] = [];
  const exchange: AuthExchange = async (method, route, body) => {
    const message = {
      method,
      url: `${server}${route}`,
      headers: body === undefined ? [] : ([["content-type", "application/json"]] as [string, string][]),
      body: body === undefined ? new Uint8Array(0) : utf8(JSON.stringify(body)),
    };
    const sent = await sendAnonymously(env, localRelayPrefix(env, request), message, { fresh: false, waitUntil });
    if (sent instanceof Response) throw new Early(sent);
    path = sent.path;
    if (!sent.result.ok) throw new Early(errorResponse(sent.result.error.status, sent.result.error.error, sent.result.error.message));
    try {
      return { status: sent.result.response.status, body: JSON.parse(fromUtf8(sent.result.response.body)) };
    } catch {
      throw new Early(errorResponse(502, "bad_auth_answer", "The auth server did not answer with JSON."));
    }
  };

  let answer: Response;
  try {
    const result = kind === "register" ? await registerAccount(exchange, { username, password }, mechanism) : await loginAccount(exchange, { username, password }, mechanism);
    answer = Response.json(result.body, { status: result.status });
  } catch (error) {
    if (error instanceof Early) answer = error.response;
    else if (error instanceof AuthClientError) answer = errorResponse(502, error.code, error.message);
    else throw error;
  }
  if (path.length > 0) answer.headers.set(CIRCUIT_HEADER, path.join(","));
  answer.headers.set("cache-control", "no-store");
  return answer;
}
