// One onion layer: AES-256-CTR keyed per hop and direction, IV = the 16-byte nonce that hop sees.
// CTR is length-preserving, so a relay forwards exactly as many bytes as it received.

import type { Bytes } from "./bytes.ts";
import type { LayerCipher, Mac } from "./circuit-keys.ts";

export const NONCE_BYTES = 16;

/** Adds or removes a layer (CTR is its own inverse). */
export const applyLayer = (cipher: LayerCipher, nonce: Bytes, data: Bytes): Promise<Bytes> => cipher.apply(nonce, data);

/**
 * The nonce the next hop sees: HMAC(Kn, nonce) cut to 16 bytes. Each hop's IV differs,
 * so two relays cannot match a message by its nonce, yet the client can compute them all.
 */
export async function nextNonce(nonceKey: Mac, nonce: Bytes): Promise<Bytes> {
  return (await nonceKey.sign([nonce])).subarray(0, NONCE_BYTES);
}
