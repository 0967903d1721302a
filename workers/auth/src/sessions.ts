// Sessions: 256-bit bearer tokens, stored only as SHA-256 hashes, each with an expiry; at most
// maxSessionsPerUser a user (a new login evicts the oldest).

import { type Mechanism, randomBytes, toBase64Url, toHex, utf8 } from "@shallot/protocol";

export const TOKEN_BYTES = 32;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export const tokenHash = async (token: string): Promise<string> => toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(token))));

export interface NewSession {
  token: string;
  expiresAt: number;
  insert: D1PreparedStatement;
}

/** A fresh token and the statement that stores its hash (run in the login's batch). */
export async function newSession(db: D1Database, username: string, now: number, ttlMs: number): Promise<NewSession> {
  const token = toBase64Url(randomBytes(TOKEN_BYTES));
  const expiresAt = now + ttlMs;
  const insert = db.prepare("INSERT INTO sessions (token_hash, username, created_at, expires_at) VALUES (?, ?, ?, ?)").bind(await tokenHash(token), username, now, expiresAt);
  return { token, expiresAt, insert };
}

export const pruneSessions = (db: D1Database, now: number): D1PreparedStatement => db.prepare("DELETE FROM sessions WHERE expires_at <= ?").bind(now);

/** Keeps the user's `max` newest sessions (run after inserting one). */
export const capSessions = (db: D1Database, username: string, max: number): D1PreparedStatement =>
  db
    .prepare("DELETE FROM sessions WHERE username = ?1 AND token_hash NOT IN (SELECT token_hash FROM sessions WHERE username = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2)")
    .bind(username, max);

/** POST /logout: this token stops working. */
export const revokeSession = (db: D1Database, tokenHash: string): D1PreparedStatement => db.prepare("DELETE FROM sessions WHERE token_hash = ?").bind(tokenHash);

export interface Session {
  username: string;
  mechanism: Mechanism;
  tokenHash: string;
}

/** The live session a token names, with its user's current mechanism; null for anything else. */
export async function findSession(db: D1Database, token: string, now: number): Promise<Session | null> {
  if (!TOKEN_PATTERN.test(token)) return null;
  const hash = await tokenHash(token);
  const row = await db
    .prepare("SELECT s.username AS username, u.mechanism AS mechanism FROM sessions s JOIN users u ON u.username = s.username WHERE s.token_hash = ? AND s.expires_at > ?")
    .bind(hash, now)
    .first<{ username: string; mechanism: Mechanism }>();
  return row ? { ...row, tokenHash: hash } : null;
}

/** After a rotation only the rotating session survives: a thief's sessions end with the old verifier. */
export const revokeOtherSessions = (db: D1Database, username: string, keepTokenHash: string): D1PreparedStatement =>
  db.prepare("DELETE FROM sessions WHERE username = ? AND token_hash <> ?").bind(username, keepTokenHash);
