// A proof of the password: take the challenge, check the response against the user's current
// verifier. Used by POST /login and POST /rotate. A wrong answer to a live challenge counts as a
// failure for the username (known or not), which raises the puzzle its next challenge needs; nothing
// locks the username out.

import { type Bytes, SCRAM_SHA_256, authMessage, fromBase64, serverSignature, toBase64, verifyClientProof, verifySeedResponse } from "@shallot/protocol";
import { type ChallengeRow, takeChallenge } from "./challenges.ts";
import type { AuthLimits } from "./env.ts";
import { challengeExpired, invalidCredentials } from "./http-error.ts";
import { bumpPressure, prunePressure, userBuckets } from "./pressure.ts";
import { type User, findUser } from "./users.ts";

export interface ProofRequest {
  username: string;
  challengeId: string;
  response: string;
}

/** Stands in for a missing user, so an unknown username costs the same checking as a real one. */
function dummyUser(challenge: ChallengeRow): User {
  if (challenge.mechanism !== SCRAM_SHA_256) return { username: challenge.username, mechanism: challenge.mechanism, hash: "0".repeat(128) };
  const zeros = toBase64(new Uint8Array(32));
  return { username: challenge.username, mechanism: challenge.mechanism, salt: challenge.salt!, iterations: challenge.iterations!, storedKey: zeros, serverKey: zeros };
}

/** {} (seed) or { serverSignature } (SCRAM) when the response is right; false for any mismatch. */
async function checkResponse(user: User, challenge: ChallengeRow, response: string, channelBinding: Bytes | undefined, operation: string | undefined): Promise<false | { serverSignature?: string }> {
  if (user.mechanism !== challenge.mechanism) return false;
  if (user.mechanism !== SCRAM_SHA_256) return (await verifySeedResponse(user.mechanism, user.hash, challenge.nonce, response, operation)) && {};
  // The AuthMessage carries the salt and iterations the challenge announced; a rotation since then fails here.
  if (challenge.salt !== user.salt || challenge.iterations !== user.iterations || challenge.client_nonce === null) return false;
  let proof: Bytes;
  try {
    proof = fromBase64(response);
  } catch {
    return false;
  }
  const clientNonce = challenge.client_nonce;
  const message = authMessage({ username: user.username, clientNonce, nonce: clientNonce + challenge.nonce, salt: user.salt, iterations: user.iterations, channelBinding, operation });
  if (!(await verifyClientProof(fromBase64(user.storedKey), message, proof))) return false;
  return { serverSignature: toBase64(await serverSignature(fromBase64(user.serverKey), message)) };
}

/**
 * The user whose password the response proves, and the SCRAM server signature; throws the one
 * invalid_credentials answer otherwise. `channelBinding` is the server key an Oblivious HTTP request
 * was encrypted to (SCRAM then binds to it), undefined for plain JSON. `operation` is what a proof
 * other than a login's is bound to (a rotation's new verifier, rotationOperation), undefined for a login.
 */
export async function checkProof(
  db: D1Database,
  request: ProofRequest,
  now: number,
  limits: AuthLimits,
  channelBinding: Bytes | undefined,
  operation?: string,
): Promise<{ user: User; serverSignature?: string }> {
  const [taken] = await db.batch<ChallengeRow>([takeChallenge(db, request.challengeId)]);
  const challenge = taken!.results[0];
  // Not a guess at all (no live challenge for this name): nothing to count.
  if (!challenge || challenge.expires_at <= now || challenge.username !== request.username) throw challengeExpired();
  const user = await findUser(db, request.username);
  const verdict = await checkResponse(user ?? dummyUser(challenge), challenge, request.response, channelBinding, operation);
  if (!user || !verdict) {
    const { failures } = await userBuckets(request.username, limits);
    await db.batch([prunePressure(db, now), bumpPressure(db, failures, now, limits.maxPressureRows)]);
    throw invalidCredentials();
  }
  return { user, ...verdict };
}
