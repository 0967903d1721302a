// The server's HPKE key, imported once per isolate from the AUTH_HPKE_KEY secret, and the secrets it
// lends to the fake challenges of unknown usernames and to puzzle seeds.

import { type AuthKey, fromBase64Url, importAuthKey, ohttpKeyId, utf8 } from "@shallot/protocol";
import { ApiError } from "./http-error.ts";

export interface ServerKey extends AuthKey {
  /** HMAC-SHA256 key for unknown usernames' challenge parameters (challenges.ts). */
  unknownUserKey: CryptoKey;
  /** HMAC-SHA256 key for puzzle seeds (puzzle.ts). */
  puzzleKey: CryptoKey;
  /** The Oblivious HTTP key identifier: the first byte of SHA-256(public key). */
  ohttpKeyId: number;
}

const imported = new Map<string, Promise<ServerKey>>();

const unconfigured = () =>
  new ApiError(503, "auth_unconfigured", "The auth server is not configured: AUTH_HPKE_KEY must be the base64url encoding of a 32-byte X25519 private key.");

async function load(secret: string): Promise<ServerKey> {
  let raw: Uint8Array<ArrayBuffer>;
  try {
    raw = fromBase64Url(secret);
  } catch {
    throw unconfigured();
  }
  if (raw.length !== 32) throw unconfigured();
  const key = await importAuthKey(raw);
  // A subkey under its own label, so the X25519 scalar itself never keys an HMAC.
  const material = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const subkey = async (label: string) =>
    crypto.subtle.importKey("raw", await crypto.subtle.sign("HMAC", material, utf8(label)), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return {
    ...key,
    unknownUserKey: await subkey("shallot-auth-v1 unknown-user key"),
    puzzleKey: await subkey("shallot-auth-v1 puzzle key"),
    ohttpKeyId: await ohttpKeyId(key.publicKey),
  };
}

/** The configured key, or a 503 auth_unconfigured ApiError. */
export function serverKey(secret: string | undefined): Promise<ServerKey> {
  if (!secret) return Promise.reject(unconfigured());
  let key = imported.get(secret);
  if (!key) {
    key = load(secret);
    key.catch(() => imported.delete(secret));
    imported.set(secret, key);
  }
  return key;
}
