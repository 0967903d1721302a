// A login: take the challenge, count the attempt, check the response, open a session.

import {
  type LoginRequest,
  type LoginResponse,
  SCRAM_SHA_256,
  authMessage,
  fromBase64,
  serverSignature,
  toBase64,
  verifyClientProof,
  verifySeedResponse,
} from "@shallot/protocol";
import { type ChallengeRow, takeChallenge } from "./challenges.ts";
import type { AuthConfig } from "./env.ts";
import { ApiError, invalidCredentials } from "./http-error.ts";
import { forgiveAttempt, pruneFailures, reserveAttempt, retryAfterSeconds } from "./rate-limit.ts";
import { newSession, pruneSessions } from "./sessions.ts";
import { type User, findUser } from "./users.ts";

/** Stands in for a missing user, so an unknown username costs the same checking as a real one. */
function dummyUser(challenge: ChallengeRow): User {
  if (challenge.mechanism !== SCRAM_SHA_256) return { username: challenge.username, mechanism: challenge.mechanism, hash: "0".repeat(128) };
  const zeros = toBase64(new Uint8Array(32));
  return { username: challenge.username, mechanism: challenge.mechanism, salt: challenge.salt!, iterations: challenge.iterations!, storedKey: zeros, serverKey: zeros };
}

/** {} (seed) or { serverSignature } (SCRAM) when the response is right; false for any mismatch. */
async function checkResponse(user: User, challenge: ChallengeRow, response: string): Promise<false | { serverSignature?: string }> {
  if (user.mechanism !== challenge.mechanism) return false;
  if (user.mechanism !== SCRAM_SHA_256) return (await verifySeedResponse(user.mechanism, user.hash, challenge.nonce, response)) && {};
  // The AuthMessage carries the salt and iterations the challenge announced; a rotation since then fails here.
  if (challenge.salt !== user.salt || challenge.iterations !== user.iterations) return false;
  let proof: Uint8Array<ArrayBuffer>;
  try {
    proof = fromBase64(response);
  } catch {
    return false;
  }
  const message = authMessage({ username: user.username, nonce: challenge.nonce, salt: user.salt, iterations: user.iterations });
  if (!(await verifyClientProof(fromBase64(user.storedKey), message, proof))) return false;
  return { serverSignature: toBase64(await serverSignature(fromBase64(user.serverKey), message)) };
}

export async function login(db: D1Database, request: LoginRequest, now: number, config: AuthConfig): Promise<LoginResponse> {
  // One transaction: old failures forgotten, then the challenge gone and the attempt counted before
  // anything is checked (pruning here, not on success, keeps failures for unknown names bounded too).
  const [, taken, reserved] = await db.batch<ChallengeRow | { id: number }>([pruneFailures(db, now), takeChallenge(db, request.challengeId), reserveAttempt(db, request.username, now)]);
  const challenge = taken!.results[0] as ChallengeRow | undefined;
  const attempt = reserved!.results[0] as { id: number } | undefined;
  if (!attempt) {
    const seconds = await retryAfterSeconds(db, request.username, now);
    throw new ApiError(429, "rate_limited", `Too many failed logins for this username; retry in ${seconds} s.`, { "Retry-After": String(seconds) });
  }
  if (!challenge || challenge.expires_at <= now || challenge.username !== request.username) throw invalidCredentials();
  const user = await findUser(db, request.username);
  const verdict = await checkResponse(user ?? dummyUser(challenge), challenge, request.response);
  if (!user || !verdict) throw invalidCredentials();
  const session = await newSession(db, user.username, now, config.tokenTtlMs);
  await db.batch([forgiveAttempt(db, attempt.id), session.insert, pruneSessions(db, now)]);
  return { token: session.token, expiresAt: session.expiresAt, ...verdict };
}
