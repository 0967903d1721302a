// The circuits' layers and digests with node:crypto instead of WebCrypto. Node runs both on the
// main thread; node:crypto's AES-CTR is about twice as fast here, and its HMAC takes a message in
// parts, so a cell's digest needs no copy of the cell (docs/performance.md).

import { type KeyObject, createCipheriv, createHmac, createSecretKey } from "node:crypto";
import type { Bytes, CellCrypto } from "@shallot/protocol";

const BLOCK = 16;
const COUNTER_SPAN = 1n << 64n;

function ctr(key: KeyObject, iv: Bytes, data: Bytes): Bytes {
  const out = createCipheriv("aes-256-ctr", key, iv).update(data);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/**
 * AES-256-CTR with WebCrypto's `length: 64`: the counter is the IV's low 64 bits and wraps within
 * them, where OpenSSL carries into the high half. Past the wrap, the rest is its own run from a
 * counter of zero.
 */
function layer(key: KeyObject, nonce: Bytes, data: Bytes): Bytes {
  const counter = new DataView(nonce.buffer, nonce.byteOffset, nonce.byteLength).getBigUint64(8);
  const room = COUNTER_SPAN - counter;
  if (BigInt(Math.ceil(data.length / BLOCK)) <= room) return ctr(key, nonce, data);
  const split = Number(room) * BLOCK;
  const wrapped = nonce.slice();
  wrapped.fill(0, 8);
  const out = new Uint8Array(data.length);
  out.set(ctr(key, nonce, data.subarray(0, split)));
  out.set(ctr(key, wrapped, data.subarray(split)), split);
  return out;
}

export const nodeCellCrypto: CellCrypto = {
  async cipher(raw) {
    if (raw.length !== 32) throw new RangeError("an AES-256 key is 32 bytes");
    const key = createSecretKey(raw);
    return { apply: async (nonce, data) => layer(key, nonce, data) };
  },
  async mac(raw) {
    const key = createSecretKey(raw);
    return {
      sign: async (parts) => {
        const hmac = createHmac("sha256", key);
        for (const part of parts) hmac.update(part);
        const tag = hmac.digest();
        return new Uint8Array(tag.buffer, tag.byteOffset, tag.length);
      },
    };
  },
};
