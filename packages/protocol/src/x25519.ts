// X25519 and Ed25519 key material in WebCrypto, with raw 32-byte encodings on the wire.

import { type Bytes, concat, fromHex } from "./bytes.ts";

// RFC 8410 PKCS#8 prefixes: WebCrypto imports raw private keys only through PKCS#8 or JWK.
const X25519_PKCS8_PREFIX = fromHex("302e020100300506032b656e04220420");
const ED25519_PKCS8_PREFIX = fromHex("302e020100300506032b657004220420");

export interface KeyPair {
  privateKey: CryptoKey;
  /** Raw 32-byte public key. */
  publicKey: Bytes;
}

async function exportRawPublic(key: CryptoKey): Promise<Bytes> {
  return new Uint8Array((await crypto.subtle.exportKey("raw", key)) as ArrayBuffer);
}

export async function generateX25519(): Promise<KeyPair> {
  const pair = (await crypto.subtle.generateKey({ name: "X25519" }, true, ["deriveBits"])) as CryptoKeyPair;
  return { privateKey: pair.privateKey, publicKey: await exportRawPublic(pair.publicKey) };
}

export async function generateEd25519(): Promise<KeyPair> {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  return { privateKey: pair.privateKey, publicKey: await exportRawPublic(pair.publicKey) };
}

/** PKCS#8 form of a private key, for storage. */
export async function exportPrivateKey(key: CryptoKey): Promise<Bytes> {
  return new Uint8Array((await crypto.subtle.exportKey("pkcs8", key)) as ArrayBuffer);
}

async function importPrivate(pkcs8OrSeed: Bytes, algorithm: "X25519" | "Ed25519"): Promise<KeyPair> {
  const prefix = algorithm === "X25519" ? X25519_PKCS8_PREFIX : ED25519_PKCS8_PREFIX;
  const pkcs8 = pkcs8OrSeed.length === 32 ? concat(prefix, pkcs8OrSeed) : pkcs8OrSeed;
  const usages: ("deriveBits" | "sign")[] = algorithm === "X25519" ? ["deriveBits"] : ["sign"];
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, { name: algorithm }, true, usages);
  // WebCrypto has no "public from private"; the JWK export carries x, the public half.
  const jwk = (await crypto.subtle.exportKey("jwk", privateKey)) as JsonWebKey;
  const publicKey = await crypto.subtle.importKey("jwk", { kty: "OKP", crv: algorithm, x: jwk.x! }, { name: algorithm }, true, algorithm === "X25519" ? [] : ["verify"]);
  return { privateKey, publicKey: await exportRawPublic(publicKey) };
}

/** Imports an X25519 private key from PKCS#8 or a raw 32-byte scalar. */
export const importX25519 = (bytes: Bytes): Promise<KeyPair> => importPrivate(bytes, "X25519");
/** Imports an Ed25519 private key from PKCS#8 or a raw 32-byte seed. */
export const importEd25519 = (bytes: Bytes): Promise<KeyPair> => importPrivate(bytes, "Ed25519");

export async function x25519(privateKey: CryptoKey, publicKey: Bytes): Promise<Bytes> {
  const peer = await crypto.subtle.importKey("raw", publicKey, { name: "X25519" }, false, []);
  // The cast: workers-types spells the member `$public`; every runtime reads `public`.
  const algorithm = { name: "X25519", public: peer } as unknown as Parameters<typeof crypto.subtle.deriveBits>[0];
  return new Uint8Array(await crypto.subtle.deriveBits(algorithm, privateKey, 256));
}

export async function ed25519Sign(privateKey: CryptoKey, message: Bytes): Promise<Bytes> {
  return new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, privateKey, message));
}

export async function ed25519Verify(publicKey: Bytes, signature: Bytes, message: Bytes): Promise<boolean> {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  } catch {
    return false;
  }
}
