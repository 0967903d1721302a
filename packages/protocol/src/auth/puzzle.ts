// The client puzzle that replaces the login lockout (Tor's onion-service proof of work is the model):
// hashcash over SHA-256. The server hands out a 32-byte seed and a difficulty in bits; a solution is
// an 8-byte nonce such that
//
//   SHA-256( label ‖ seed ‖ nonce )  starts with `bits` zero bits
//
// where label is the 32 bytes "shallot-auth-v1 puzzle" followed by ten zero bytes. label ‖ seed is one
// 64-byte SHA-256 block, so a solver hashes it once and then runs one compression per nonce.
// Expected work is 2^bits hashes; MAX_PUZZLE_BITS bounds it for every honest client (docs/auth.md).

import { type Bytes, fromHex, randomBytes, toHex, utf8 } from "../bytes.ts";

/** At most 2^20 expected hashes: about 0.4 s on average on one core of the development machine. */
export const MAX_PUZZLE_BITS = 20;
export const PUZZLE_SEED_BYTES = 32;
export const PUZZLE_NONCE_BYTES = 8;

export const PUZZLE_LABEL: Bytes = (() => {
  const label = new Uint8Array(32);
  label.set(utf8("shallot-auth-v1 puzzle"));
  return label;
})();

/** Expected SHA-256 evaluations to solve a puzzle of `bits`. */
export const expectedPuzzleWork = (bits: number): number => 2 ** bits;

/** Leading zero bits of a digest. */
export function leadingZeroBits(digest: Bytes): number {
  let bits = 0;
  for (const byte of digest) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

/** The digest a solution is judged by (server side: WebCrypto, one hash). */
export async function puzzleDigest(seed: Bytes, nonce: Bytes): Promise<Bytes> {
  const input = new Uint8Array(PUZZLE_LABEL.length + seed.length + nonce.length);
  input.set(PUZZLE_LABEL);
  input.set(seed, PUZZLE_LABEL.length);
  input.set(nonce, PUZZLE_LABEL.length + seed.length);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", input));
}

/** True when `nonceHex` solves the puzzle (`seedHex`, `bits`). */
export async function checkPuzzle(seedHex: string, bits: number, nonceHex: string): Promise<boolean> {
  if (!/^[0-9a-f]{64}$/.test(seedHex) || !/^[0-9a-f]{16}$/.test(nonceHex)) return false;
  return leadingZeroBits(await puzzleDigest(fromHex(seedHex), fromHex(nonceHex))) >= bits;
}

// SHA-256 (FIPS 180-4) compression, written out so the solver reuses the first block's state and
// spends one compression per try, synchronously (a WebCrypto digest per try costs ten times more).
const K = Uint32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const INITIAL = Int32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

function compress(state: Int32Array, block: Int32Array, w: Int32Array, out: Int32Array): void {
  for (let i = 0; i < 16; i++) w[i] = block[i]!;
  for (let i = 16; i < 64; i++) {
    const a = w[i - 15]!;
    const b = w[i - 2]!;
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
  }
  let a = state[0]!, b = state[1]!, c = state[2]!, d = state[3]!, e = state[4]!, f = state[5]!, g = state[6]!, h = state[7]!;
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  out[0] = (state[0]! + a) | 0;
  out[1] = (state[1]! + b) | 0;
  out[2] = (state[2]! + c) | 0;
  out[3] = (state[3]! + d) | 0;
  out[4] = (state[4]! + e) | 0;
  out[5] = (state[5]! + f) | 0;
  out[6] = (state[6]! + g) | 0;
  out[7] = (state[7]! + h) | 0;
}

/**
 * Finds a nonce for (seed, bits); returns it as 16 hex characters. Nonces are tried in order from a
 * random start, so two solvers of one seed do not collide. Refuses more than MAX_PUZZLE_BITS: a
 * server (or anyone answering for it) cannot make a client burn more than that budget.
 */
export function solvePuzzle(seedHex: string, bits: number, start: bigint = new DataView(randomBytes(8).buffer).getBigUint64(0)): string {
  if (!/^[0-9a-f]{64}$/.test(seedHex)) throw new RangeError("a puzzle seed is 64 hex characters");
  if (!Number.isInteger(bits) || bits < 0 || bits > MAX_PUZZLE_BITS) throw new RangeError(`a puzzle is 0 to ${MAX_PUZZLE_BITS} bits`);
  const first = new Int32Array(16);
  const prefix = new DataView(new Uint8Array([...PUZZLE_LABEL, ...fromHex(seedHex)]).buffer);
  for (let i = 0; i < 16; i++) first[i] = prefix.getInt32(i * 4);
  const w = new Int32Array(64);
  const midstate = new Int32Array(8);
  compress(INITIAL, first, w, midstate);
  // Second block: the 8-byte nonce, the 0x80 terminator, zeros, and the length (72 bytes = 576 bits).
  const block = new Int32Array(16);
  block[2] = 0x80000000 | 0;
  block[15] = 72 * 8;
  const out = new Int32Array(8);
  let high = Number(start >> 32n) >>> 0;
  let low = Number(start & 0xffffffffn) >>> 0;
  for (;;) {
    block[0] = high | 0;
    block[1] = low | 0;
    compress(midstate, block, w, out);
    if (bits === 0 || zeroPrefix(out, bits)) {
      const nonce = new Uint8Array(8);
      const view = new DataView(nonce.buffer);
      view.setUint32(0, high);
      view.setUint32(4, low);
      return toHex(nonce);
    }
    low = (low + 1) >>> 0;
    if (low === 0) high = (high + 1) >>> 0;
  }
}

function zeroPrefix(digest: Int32Array, bits: number): boolean {
  let word = 0;
  while (bits >= 32) {
    if (digest[word++] !== 0) return false;
    bits -= 32;
  }
  return bits === 0 || digest[word]! >>> (32 - bits) === 0;
}
