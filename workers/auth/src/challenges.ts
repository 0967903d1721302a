// Outstanding challenges: issued with an expiry, taken (deleted) exactly once by a login.

import {
  type Challenge,
  MECHANISMS,
  type Mechanism,
  SCRAM_SALT_BYTES,
  SCRAM_SHA_256,
  randomBytes,
  toBase64,
  toHex,
  utf8,
} from "@shallot/protocol";
import type { User } from "./users.ts";

export const NONCE_BYTES = 32;
export const CHALLENGE_ID_BYTES = 16;

export type ChallengeParams = { mechanism: Exclude<Mechanism, typeof SCRAM_SHA_256> } | { mechanism: typeof SCRAM_SHA_256; salt: string; iterations: number };

export interface ChallengeRow {
  id: string;
  username: string;
  mechanism: Mechanism;
  nonce: string;
  salt: string | null;
  iterations: number | null;
  expires_at: number;
}

export const paramsOf = (user: User): ChallengeParams =>
  user.mechanism === SCRAM_SHA_256 ? { mechanism: user.mechanism, salt: user.salt, iterations: user.iterations } : { mechanism: user.mechanism };

/**
 * What an unknown username is challenged with: a mechanism and salt drawn from HMAC(server secret,
 * username), so the answer is the same on every call and looks like a real user's. The mechanism is
 * spread over all four so that none of them marks a username as registered.
 */
export async function unknownUserParams(key: CryptoKey, username: string, iterations: number): Promise<ChallengeParams> {
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8(`shallot-auth-v1 unknown-user\n${username}`)));
  const mechanism = MECHANISMS[mac[0]! % MECHANISMS.length]!;
  if (mechanism !== SCRAM_SHA_256) return { mechanism };
  return { mechanism, salt: toBase64(mac.slice(1, 1 + SCRAM_SALT_BYTES)), iterations };
}

/** Stores a fresh challenge (and drops expired ones) and returns the body of POST /challenge. */
export async function issueChallenge(db: D1Database, username: string, params: ChallengeParams, now: number, ttlMs: number): Promise<Challenge> {
  const challengeId = toHex(randomBytes(CHALLENGE_ID_BYTES));
  const nonce = toHex(randomBytes(NONCE_BYTES));
  const salt = params.mechanism === SCRAM_SHA_256 ? params.salt : null;
  const iterations = params.mechanism === SCRAM_SHA_256 ? params.iterations : null;
  await db.batch([
    db.prepare("DELETE FROM challenges WHERE expires_at <= ?").bind(now),
    db
      .prepare("INSERT INTO challenges (id, username, mechanism, nonce, salt, iterations, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(challengeId, username, params.mechanism, nonce, salt, iterations, now, now + ttlMs),
  ]);
  return { challengeId, nonce, ...params } as Challenge;
}

/** Deletes the challenge and returns it: whatever the login's outcome, it cannot be answered twice. */
export const takeChallenge = (db: D1Database, challengeId: string): D1PreparedStatement =>
  db.prepare("DELETE FROM challenges WHERE id = ? RETURNING id, username, mechanism, nonce, salt, iterations, expires_at").bind(challengeId);
