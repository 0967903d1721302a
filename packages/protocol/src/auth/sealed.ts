// Registrations sealed to the auth server with HPKE (RFC 9180), so the exit relay sees only ciphertext
// (seed report §6.1: the hash travels over an extra key exchange with the server).
//
// Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM; base mode (no PSK, no sender auth);
// single-shot seal (RFC 9180 §6.1) with info = ASCII "shallot-auth-v1 register" and an empty AAD.
// The plaintext is the UTF-8 JSON of a clear registration body. keyId = first 16 hex characters of
// SHA-256(raw 32-byte public key). On the wire enc and ciphertext are base64url without padding.

import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import * as v from "valibot";
import { type Bytes, fromBase64Url, fromUtf8, toBase64Url, toHex, utf8 } from "../bytes.ts";
import { type Registration, RegistrationSchema, type Sealed } from "./schemas.ts";

export const AUTH_HPKE_INFO = "shallot-auth-v1 register";
export const AUTH_HPKE_SUITE = { kem: "X25519", kdf: "HKDF-SHA256", aead: "AES-128-GCM" } as const;

const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });

export interface AuthKey {
  privateKey: CryptoKey;
  /** Raw 32-byte X25519 public key. */
  publicKey: Bytes;
  keyId: string;
}

export const authKeyId = async (publicKey: Bytes): Promise<string> =>
  toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", publicKey))).slice(0, 16);

/** Imports the server's raw 32-byte X25519 private key and derives its public half and key id. */
export async function importAuthKey(rawPrivateKey: Bytes): Promise<AuthKey> {
  if (rawPrivateKey.length !== 32) throw new RangeError("an X25519 private key is 32 bytes");
  const privateKey = await suite.kem.deserializePrivateKey(rawPrivateKey);
  // WebCrypto has no "public from private"; the private key's JWK carries x, the public half.
  const { x } = (await crypto.subtle.exportKey("jwk", privateKey)) as JsonWebKey;
  const publicCryptoKey = await crypto.subtle.importKey("jwk", { kty: "OKP", crv: "X25519", x }, { name: "X25519" }, true, []);
  const publicKey = new Uint8Array((await crypto.subtle.exportKey("raw", publicCryptoKey)) as ArrayBuffer);
  return { privateKey, publicKey, keyId: await authKeyId(publicKey) };
}

/** A fresh server key: raw private bytes for the AUTH_HPKE_KEY secret, and the imported key. */
export async function generateAuthKey(): Promise<AuthKey & { rawPrivateKey: Bytes }> {
  const pair = await suite.kem.generateKeyPair();
  const rawPrivateKey = new Uint8Array(await suite.kem.serializePrivateKey(pair.privateKey));
  return { ...(await importAuthKey(rawPrivateKey)), rawPrivateKey };
}

/** Client side: seals a clear registration body to the server's public key. */
export async function sealRegistration(publicKey: Bytes, keyId: string, body: Registration): Promise<Sealed> {
  const recipientPublicKey = await suite.kem.deserializePublicKey(publicKey);
  const { enc, ct } = await suite.seal({ recipientPublicKey, info: utf8(AUTH_HPKE_INFO) }, utf8(JSON.stringify(body)));
  return { keyId, enc: toBase64Url(new Uint8Array(enc)), ciphertext: toBase64Url(new Uint8Array(ct)) };
}

export type OpenResult =
  | { ok: true; registration: Registration }
  | { ok: false; error: "unknown_key" | "sealed_body_invalid" | "invalid_request"; message: string };

/** Server side: opens a sealed registration and checks its plaintext; never throws. */
export async function openRegistration(key: AuthKey, sealed: Sealed): Promise<OpenResult> {
  if (sealed.keyId !== key.keyId) return { ok: false, error: "unknown_key", message: `The body is sealed to key ${sealed.keyId}; this server's key is ${key.keyId} (GET /key).` };
  let plaintext: string;
  try {
    const opened = await suite.open(
      { recipientKey: key.privateKey, enc: fromBase64Url(sealed.enc), info: utf8(AUTH_HPKE_INFO) },
      fromBase64Url(sealed.ciphertext),
    );
    plaintext = fromUtf8(new Uint8Array(opened));
  } catch {
    return { ok: false, error: "sealed_body_invalid", message: "The sealed body could not be opened with this server's key." };
  }
  let body: unknown;
  try {
    body = JSON.parse(plaintext);
  } catch {
    return { ok: false, error: "sealed_body_invalid", message: "The sealed body's plaintext is not JSON." };
  }
  const parsed = v.safeParse(RegistrationSchema, body);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const path = issue ? v.getDotPath(issue) : null;
    return { ok: false, error: "invalid_request", message: `The sealed registration is invalid${path ? ` at ${path}` : ""}: ${(issue?.message ?? "unknown problem").replace(/\.$/, "")}.` };
  }
  return { ok: true, registration: parsed.output };
}
