// The client's half of the auth flows (seed section 6): it computes the verifier or the response
// itself, seals registrations to the server's key, and checks the SCRAM server signature. The
// password never leaves this code. Requests go through `exchange`, which the caller points at a
// circuit (gateway, CLI, browser), so this file does no I/O of its own.

import * as v from "valibot";
import { fromBase64Url, randomBytes } from "../bytes.ts";
import { fromBase64, toBase64 } from "./base64.ts";
import { type Mechanism, SCRAM_SHA_256, hashPassword, seedResponse } from "./mechanisms.ts";
import { ChallengeSchema, KeyResponseSchema, LoginResponseSchema, type Registration } from "./schemas.ts";
import { SCRAM_DEFAULT_ITERATIONS, SCRAM_SALT_BYTES, authMessage, clientProof, scramKeys, scramVerifier, verifyServerSignature } from "./scram.ts";
import { sealRegistration } from "./sealed.ts";

/** One JSON request to the auth server; resolves with its status and parsed JSON body. */
export type AuthExchange = (method: "GET" | "POST", path: string, body?: unknown) => Promise<{ status: number; body: unknown }>;

export type AuthClientErrorCode = "bad_server_key" | "bad_challenge" | "bad_login_answer" | "server_not_authenticated" | "mechanism_mismatch";

export class AuthClientError extends Error {
  override readonly name = "AuthClientError";
  readonly code: AuthClientErrorCode;
  constructor(code: AuthClientErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface Credentials {
  username: string;
  password: string;
}

/** The clear registration body for a password: H(password) for the seed mechanisms, SCRAM keys otherwise. */
export async function makeRegistration({ username, password }: Credentials, mechanism: Mechanism, iterations = SCRAM_DEFAULT_ITERATIONS): Promise<Registration> {
  if (mechanism !== SCRAM_SHA_256) return { username, mechanism, hash: await hashPassword(mechanism, password) };
  const salt = randomBytes(SCRAM_SALT_BYTES);
  const { storedKey, serverKey } = await scramVerifier(password, salt, iterations);
  return { username, mechanism, salt: toBase64(salt), iterations, storedKey: toBase64(storedKey), serverKey: toBase64(serverKey) };
}

/**
 * Registers (or, with path "/rotate", replaces the verifier) sealed to the server's HPKE key, so
 * only the server reads the hash: GET /key, then POST the sealed body. Returns the server's answer.
 */
export async function registerAccount(exchange: AuthExchange, credentials: Credentials, mechanism: Mechanism = SCRAM_SHA_256, path: "/register" | "/rotate" = "/register") {
  const key = await exchange("GET", "/key");
  if (key.status !== 200) return key;
  const parsed = v.safeParse(KeyResponseSchema, key.body);
  if (!parsed.success) throw new AuthClientError("bad_server_key", "The auth server's key (GET /key) is malformed.");
  const sealed = await sealRegistration(fromBase64Url(parsed.output.publicKey), parsed.output.keyId, await makeRegistration(credentials, mechanism));
  return exchange("POST", path, { sealed });
}

/**
 * Logs in by challenge-response: POST /challenge, compute the answer here, POST /login. For SCRAM the
 * server's signature must verify, or the answer is refused (someone else answered for the server).
 * With `expected`, a challenge for any other mechanism is refused before anything is computed.
 */
export async function loginAccount(exchange: AuthExchange, { username, password }: Credentials, expected?: Mechanism) {
  const challengeAnswer = await exchange("POST", "/challenge", { username });
  if (challengeAnswer.status !== 200) return challengeAnswer;
  const parsed = v.safeParse(ChallengeSchema, challengeAnswer.body);
  if (!parsed.success) throw new AuthClientError("bad_challenge", "The auth server's challenge is malformed.");
  const challenge = parsed.output;
  // Whoever answers for the server could otherwise downgrade SCRAM to a seed mechanism, which has no
  // server signature to check and hands over a fast, unsalted hash of the password.
  if (expected && challenge.mechanism !== expected) {
    throw new AuthClientError("mechanism_mismatch", `The server asked for ${challenge.mechanism}, not the expected ${expected}.`);
  }

  let response: string;
  let checkServer: ((signature: string) => Promise<boolean>) | undefined;
  if (challenge.mechanism === SCRAM_SHA_256) {
    const keys = await scramKeys(password, fromBase64(challenge.salt), challenge.iterations).catch(() => {
      throw new AuthClientError("bad_challenge", "The challenge's salt or iteration count is out of range.");
    });
    const message = authMessage({ username, nonce: challenge.nonce, salt: challenge.salt, iterations: challenge.iterations });
    response = toBase64(await clientProof(keys, message));
    checkServer = async (signature) => verifyServerSignature(keys.serverKey, message, fromBase64(signature));
  } else {
    response = await seedResponse(challenge.mechanism, await hashPassword(challenge.mechanism, password), challenge.nonce);
  }

  const login = await exchange("POST", "/login", { username, challengeId: challenge.challengeId, response });
  if (login.status !== 200) return login;
  const answer = v.safeParse(LoginResponseSchema, login.body);
  if (!answer.success) throw new AuthClientError("bad_login_answer", "The auth server's login answer is malformed.");
  if (checkServer) {
    const signature = answer.output.serverSignature;
    const verified = signature !== undefined && (await checkServer(signature).catch(() => false));
    if (!verified) throw new AuthClientError("server_not_authenticated", "The auth server's SCRAM signature does not verify: it is not the server you registered with.");
  }
  return { status: 200, body: { token: answer.output.token, expiresAt: answer.output.expiresAt } };
}
