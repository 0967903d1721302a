// The users table: one verifier per user, written and read through bound parameters only.

import { type Mechanism, type Registration, SCRAM_SHA_256, type SeedMechanism } from "@shallot/protocol";

export type User =
  | { username: string; mechanism: SeedMechanism; hash: string }
  | { username: string; mechanism: typeof SCRAM_SHA_256; salt: string; iterations: number; storedKey: string; serverKey: string };

interface UserRow {
  username: string;
  mechanism: Mechanism;
  password_hash: string | null;
  salt: string | null;
  iterations: number | null;
  stored_key: string | null;
  server_key: string | null;
}

function fromRow(row: UserRow): User {
  if (row.mechanism === SCRAM_SHA_256) {
    return { username: row.username, mechanism: row.mechanism, salt: row.salt!, iterations: row.iterations!, storedKey: row.stored_key!, serverKey: row.server_key! };
  }
  return { username: row.username, mechanism: row.mechanism, hash: row.password_hash! };
}

/** The verifier columns in table order: password_hash, salt, iterations, stored_key, server_key. */
function verifierColumns(r: Registration): [string | null, string | null, number | null, string | null, string | null] {
  return r.mechanism === SCRAM_SHA_256 ? [null, r.salt, r.iterations, r.storedKey, r.serverKey] : [r.hash, null, null, null, null];
}

export async function findUser(db: D1Database, username: string): Promise<User | null> {
  const row = await db
    .prepare("SELECT username, mechanism, password_hash, salt, iterations, stored_key, server_key FROM users WHERE username = ?")
    .bind(username)
    .first<UserRow>();
  return row ? fromRow(row) : null;
}

/** Inserts a new user; returns a row only when it did (no row: the username is taken, nothing written). */
export const insertUser = (db: D1Database, registration: Registration, now: number): D1PreparedStatement =>
  db
    .prepare(
      `INSERT INTO users (username, mechanism, password_hash, salt, iterations, stored_key, server_key, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (username) DO NOTHING RETURNING username`,
    )
    .bind(registration.username, registration.mechanism, ...verifierColumns(registration), now);

/** Replaces a user's verifier, perhaps with another mechanism (seed report §6: a stolen hash is retired). */
export const replaceVerifier = (db: D1Database, registration: Registration, now: number): D1PreparedStatement =>
  db
    .prepare("UPDATE users SET mechanism = ?, password_hash = ?, salt = ?, iterations = ?, stored_key = ?, server_key = ?, rotated_at = ? WHERE username = ?")
    .bind(registration.mechanism, ...verifierColumns(registration), now, registration.username);
