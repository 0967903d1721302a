// The client's half of the auth flows (seed section 6): it computes the verifier or the response
// itself and checks what the server sends before using it. The password never leaves this code.
// Requests go through an AuthChannel — in the gateway and the CLI an Oblivious HTTP channel to the
// pinned server key (channel.ts), carried by a circuit — so this file does no I/O of its own.
//
// What it refuses, whoever answers: a challenge for another mechanism than the one asked for (no
// downgrade from SCRAM), fewer SCRAM iterations than the configured minimum, a SCRAM nonce that does
// not extend its own client nonce (a replayed challenge), a server signature that does not verify,
// and a puzzle above MAX_PUZZLE_BITS.

import * as v from "valibot";
import { type Bytes, randomBytes, toHex } from "../bytes.ts";
import { fromBase64, toBase64 } from "./base64.ts";
import { type Mechanism, SCRAM_SHA_256, hashPassword, isWellFormedPassword, seedResponse } from "./mechanisms.ts";
import { MAX_PUZZLE_BITS, solvePuzzle } from "./puzzle.ts";
import { rotationOperation } from "./rotation.ts";
import { type Challenge, ChallengeSchema, LoginResponseSchema, PuzzleRequiredSchema, type PuzzleSolution, type Registration, RotateResponseSchema } from "./schemas.ts";
import { SCRAM_DEFAULT_ITERATIONS, SCRAM_MIN_ITERATIONS, SCRAM_SALT_BYTES, authMessage, clientProof, scramKeys, scramVerifier, verifyServerSignature } from "./scram.ts";

export interface AuthRequest {
  method: "GET" | "POST";
  /** The auth server's route, e.g. "/login". */
  path: string;
  /** A JSON body. */
  body?: unknown;
  /** Sent as `Authorization: Bearer <token>` (/me, /rotate, /logout). */
  token?: string;
}

export interface AuthAnswer {
  status: number;
  body: unknown;
}

/** Where the flows send their requests. */
export interface AuthChannel {
  send(request: AuthRequest): Promise<AuthAnswer>;
  /** SCRAM channel binding: the raw server key an Oblivious HTTP channel encrypts to; absent for plain JSON. */
  readonly binding?: Bytes;
}

export type AuthClientErrorCode =
  | "bad_server_key"
  | "invalid_password"
  | "bad_challenge"
  | "bad_login_answer"
  | "bad_puzzle"
  | "puzzle_too_hard"
  | "server_not_authenticated"
  | "mechanism_mismatch"
  | "weak_iterations"
  | "nonce_mismatch"
  | "not_encapsulated"
  | "bad_encapsulated_answer";

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

export interface LoginOptions {
  /** The mechanism the user registered with; a challenge for any other is refused. Default scram-sha-256. */
  mechanism?: Mechanism;
  /** Fewer SCRAM iterations than this are refused. Default 100,000 (the server's default). */
  minIterations?: number;
}

/** Bytes of the client nonce (hex on the wire). */
export const CLIENT_NONCE_BYTES = 24;
/** Puzzles solved for one request at most (the difficulty may rise between two answers). */
const MAX_PUZZLE_ROUNDS = 3;

/** The clear registration body for a password: H(password) for the seed mechanisms, SCRAM keys otherwise. */
export async function makeRegistration({ username, password }: Credentials, mechanism: Mechanism, iterations = SCRAM_DEFAULT_ITERATIONS): Promise<Registration> {
  if (!isWellFormedPassword(password)) throw new AuthClientError("invalid_password", "The password is not well-formed Unicode (a lone surrogate): it would hash as another password.");
  if (mechanism !== SCRAM_SHA_256) return { username, mechanism, hash: await hashPassword(mechanism, password) };
  const salt = randomBytes(SCRAM_SALT_BYTES);
  const { storedKey, serverKey } = await scramVerifier(password, salt, iterations);
  return { username, mechanism, salt: toBase64(salt), iterations, storedKey: toBase64(storedKey), serverKey: toBase64(serverKey) };
}

/**
 * Sends a POST whose body may need a puzzle solution: on `429 pow_required` it solves the puzzle
 * (at most MAX_PUZZLE_BITS; more is refused) and sends the body again with `pow`.
 */
async function sendSolving(channel: AuthChannel, path: string, body: Record<string, unknown>): Promise<AuthAnswer> {
  let answer = await channel.send({ method: "POST", path, body });
  for (let round = 0; round < MAX_PUZZLE_ROUNDS && answer.status === 429; round++) {
    const required = v.safeParse(PuzzleRequiredSchema, answer.body);
    if (!required.success) return answer;
    const { seed, bits } = required.output.pow;
    if (bits > MAX_PUZZLE_BITS) throw new AuthClientError("puzzle_too_hard", `The auth server asks for a ${bits}-bit puzzle; clients solve at most ${MAX_PUZZLE_BITS} bits.`);
    const pow: PuzzleSolution = { seed, nonce: solvePuzzle(seed, bits) };
    answer = await channel.send({ method: "POST", path, body: { ...body, pow } });
  }
  return answer;
}

/** Registers through `channel` (an encrypted one: the body holds the verifier in clear), solving a puzzle if asked. */
export async function registerAccount(channel: AuthChannel, credentials: Credentials, mechanism: Mechanism = SCRAM_SHA_256): Promise<AuthAnswer> {
  return sendSolving(channel, "/register", await makeRegistration(credentials, mechanism));
}

interface Proof {
  challengeId: string;
  response: string;
  /** SCRAM: checks the server's signature over this exchange. */
  checkServer?: (signature: string | undefined) => Promise<void>;
}

/**
 * POST /challenge (with a fresh client nonce, solving a puzzle if asked), every check on the
 * challenge, then the response computed here. Returns the server's answer when it is not a challenge.
 */
async function prove(channel: AuthChannel, { username, password }: Credentials, options: LoginOptions, operation?: string): Promise<Proof | AuthAnswer> {
  const expected = options.mechanism ?? SCRAM_SHA_256;
  const minIterations = Math.max(options.minIterations ?? SCRAM_DEFAULT_ITERATIONS, SCRAM_MIN_ITERATIONS);
  const clientNonce = toHex(randomBytes(CLIENT_NONCE_BYTES));
  const answer = await sendSolving(channel, "/challenge", { username, clientNonce });
  if (answer.status !== 200) return answer;
  const parsed = v.safeParse(ChallengeSchema, answer.body);
  if (!parsed.success) {
    const mechanism = (answer.body as { mechanism?: unknown } | null)?.mechanism;
    if (typeof mechanism === "string" && mechanism !== expected) throw mismatch(mechanism, expected);
    throw new AuthClientError("bad_challenge", "The auth server's challenge is malformed.");
  }
  const challenge: Challenge = parsed.output;
  // Whoever answers for the server could otherwise downgrade SCRAM to a seed mechanism, which has no
  // server signature to check and hands over a fast, unsalted hash of the password.
  if (challenge.mechanism !== expected) throw mismatch(challenge.mechanism, expected);
  if (challenge.mechanism !== SCRAM_SHA_256) {
    return { challengeId: challenge.challengeId, response: await seedResponse(challenge.mechanism, await hashPassword(challenge.mechanism, password), challenge.nonce, operation) };
  }
  if (challenge.iterations < minIterations) {
    throw new AuthClientError("weak_iterations", `The challenge asks for ${challenge.iterations} SCRAM iterations; fewer than ${minIterations} are refused.`);
  }
  // RFC 5802 §5.1: the server's nonce must extend the client's; otherwise the challenge was made for someone else.
  if (!challenge.nonce.startsWith(clientNonce) || challenge.nonce.length < clientNonce.length + 64) {
    throw new AuthClientError("nonce_mismatch", "The challenge's nonce does not extend this login's client nonce: it was made for another exchange.");
  }
  const keys = await scramKeys(password, fromBase64(challenge.salt), challenge.iterations);
  const message = authMessage({ username, clientNonce, nonce: challenge.nonce, salt: challenge.salt, iterations: challenge.iterations, channelBinding: channel.binding, operation });
  return {
    challengeId: challenge.challengeId,
    response: toBase64(await clientProof(keys, message)),
    async checkServer(signature) {
      const verified = signature !== undefined && (await verifyServerSignature(keys.serverKey, message, fromBase64(signature)).catch(() => false));
      if (!verified) throw new AuthClientError("server_not_authenticated", "The auth server's SCRAM signature does not verify: it is not the server you registered with.");
    },
  };
}

const mismatch = (offered: string, expected: Mechanism) =>
  new AuthClientError("mechanism_mismatch", `The server asked for ${offered}, not the expected ${expected}; nothing was computed or sent.`);

const isProof = (value: Proof | AuthAnswer): value is Proof => "challengeId" in value;

/**
 * Challenges asked for one login at most: the server says `challenge_expired` when the challenge
 * was gone before the proof came (a flood of challenges for the name evicted it, or it expired on
 * a slow path), which is no verdict on the password, so the client asks again.
 */
const CHALLENGE_ATTEMPTS = 3;
const challengeGone = (answer: AuthAnswer): boolean => answer.status === 401 && (answer.body as { error?: unknown } | null)?.error === "challenge_expired";

/** prove(), then `send` the proof; again with a new challenge while the server says the last was gone. */
async function sendProof(
  channel: AuthChannel,
  credentials: Credentials,
  options: LoginOptions,
  operation: string | undefined,
  send: (proof: Proof) => Promise<AuthAnswer>,
): Promise<{ proof: Proof; answer: AuthAnswer } | AuthAnswer> {
  for (let attempt = 1; ; attempt++) {
    const proof = await prove(channel, credentials, options, operation);
    if (!isProof(proof)) return proof;
    const answer = await send(proof);
    if (!challengeGone(answer) || attempt === CHALLENGE_ATTEMPTS) return { proof, answer };
  }
}

/**
 * Logs in by challenge-response: POST /challenge, the checks and the response here, POST /login.
 * For SCRAM the server's signature must verify, or the answer is refused.
 */
export async function loginAccount(channel: AuthChannel, credentials: Credentials, options: LoginOptions = {}): Promise<AuthAnswer> {
  const sent = await sendProof(channel, credentials, options, undefined, (proof) =>
    channel.send({ method: "POST", path: "/login", body: { username: credentials.username, challengeId: proof.challengeId, response: proof.response } }),
  );
  if (!("proof" in sent)) return sent;
  const { proof, answer: login } = sent;
  if (login.status !== 200) return login;
  const answer = v.safeParse(LoginResponseSchema, login.body);
  if (!answer.success) throw new AuthClientError("bad_login_answer", "The auth server's login answer is malformed.");
  await proof.checkServer?.(answer.output.serverSignature);
  return { status: 200, body: { token: answer.output.token, expiresAt: answer.output.expiresAt } };
}

/**
 * Replaces the verifier: a fresh proof of the current password (a token alone is not enough), then
 * POST /rotate with the token and the new registration. The rotating session stays; the others end.
 */
export async function rotateAccount(
  channel: AuthChannel,
  credentials: Credentials,
  replacement: { password: string; mechanism?: Mechanism },
  token: string,
  options: LoginOptions = {},
): Promise<AuthAnswer> {
  const registration = await makeRegistration({ username: credentials.username, password: replacement.password }, replacement.mechanism ?? SCRAM_SHA_256);
  // The proof is bound to this new verifier: it cannot be used for a login, nor for another rotation.
  const sent = await sendProof(channel, credentials, options, await rotationOperation(registration), (proof) =>
    channel.send({ method: "POST", path: "/rotate", token, body: { challengeId: proof.challengeId, response: proof.response, ...registration } }),
  );
  if (!("proof" in sent)) return sent;
  const { proof, answer: rotated } = sent;
  if (rotated.status !== 200) return rotated;
  const answer = v.safeParse(RotateResponseSchema, rotated.body);
  if (!answer.success) throw new AuthClientError("bad_login_answer", "The auth server's rotation answer is malformed.");
  await proof.checkServer?.(answer.output.serverSignature);
  return { status: 200, body: { username: answer.output.username, mechanism: answer.output.mechanism } };
}

/** POST /logout: the token stops working. */
export const logoutAccount = (channel: AuthChannel, token: string): Promise<AuthAnswer> => channel.send({ method: "POST", path: "/logout", token });
