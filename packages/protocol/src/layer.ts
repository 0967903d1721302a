// One onion layer: AES-256-CTR keyed per hop and direction, IV = the 16-byte nonce that hop sees.
// CTR is length-preserving, so a relay forwards exactly as many bytes as it received.

import type { Bytes } from "./bytes.ts";

export const NONCE_BYTES = 16;

/** Adds or removes a layer (CTR is its own inverse). */
export async function applyLayer(cipher: CryptoKey, nonce: Bytes, data: Bytes): Promise<Bytes> {
  const out = await crypto.subtle.encrypt({ name: "AES-CTR", counter: nonce, length: 64 }, cipher, data);
  return new Uint8Array(out);
}

/**
 * The nonce the next hop sees: HMAC(Kn, nonce) cut to 16 bytes. Each hop's IV differs,
 * so two relays cannot match a message by its nonce, yet the client can compute them all.
 */
export async function nextNonce(nonceKey: CryptoKey, nonce: Bytes): Promise<Bytes> {
  const mac = await crypto.subtle.sign("HMAC", nonceKey, nonce);
  return new Uint8Array(mac, 0, NONCE_BYTES);
}
