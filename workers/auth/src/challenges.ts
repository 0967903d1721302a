// Outstanding challenges: issued with an expiry, at most a few per username (the oldest evicted),
// taken (deleted) exactly once by a login or a rotation.

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
  /** The server's nonce (hex). */
  nonce: string;
  /** SCRAM: the client's nonce; the whole nonce is client_nonce ‖ nonce. */
  client_nonce: string | null;
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

export interface IssuedChallenge {
  body: Challenge;
  /** Drops expired challenges, evicts the username's oldest beyond the cap, stores this one. */
  statements: D1PreparedStatement[];
}

/** A fresh challenge (the body of POST /challenge) and the statements that store it. */
export function issueChallenge(db: D1Database, username: string, params: ChallengeParams, clientNonce: string | undefined, now: number, ttlMs: number, livePerUser: number): IssuedChallenge {
  const challengeId = toHex(randomBytes(CHALLENGE_ID_BYTES));
  const nonce = toHex(randomBytes(NONCE_BYTES));
  const scram = params.mechanism === SCRAM_SHA_256;
  const statements = [
    db.prepare("DELETE FROM challenges WHERE expires_at <= ?").bind(now),
    db
      .prepare("DELETE FROM challenges WHERE username = ?1 AND id NOT IN (SELECT id FROM challenges WHERE username = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2)")
      .bind(username, livePerUser - 1),
    db
      .prepare("INSERT INTO challenges (id, username, mechanism, nonce, client_nonce, salt, iterations, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(challengeId, username, params.mechanism, nonce, scram ? clientNonce! : null, scram ? params.salt : null, scram ? params.iterations : null, now, now + ttlMs),
  ];
  const body = (scram ? { challengeId, nonce: clientNonce! + nonce, ...params } : { challengeId, nonce, ...params }) as Challenge;
  return { body, statements };
}

/** Deletes the challenge and returns it: whatever the outcome, it cannot be answered twice. */
export const takeChallenge = (db: D1Database, challengeId: string): D1PreparedStatement =>
  db.prepare("DELETE FROM challenges WHERE id = ? RETURNING id, username, mechanism, nonce, client_nonce, salt, iterations, expires_at").bind(challengeId);
