import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { fromHex, randomBytes, toHex } from "../bytes.ts";
import { MAX_PUZZLE_BITS, PUZZLE_LABEL, checkPuzzle, expectedPuzzleWork, leadingZeroBits, solvePuzzle } from "./puzzle.ts";

/** The documented digest, computed with Node's own SHA-256. */
const nodeDigest = (seed: string, nonce: string) => createHash("sha256").update(PUZZLE_LABEL).update(fromHex(seed)).update(fromHex(nonce)).digest();

describe("the hashcash puzzle", () => {
  it("has the documented 32-byte label", () => {
    expect(PUZZLE_LABEL.length).toBe(32);
    expect(new TextDecoder().decode(PUZZLE_LABEL.subarray(0, 22))).toBe("shallot-auth-v1 puzzle");
    expect([...PUZZLE_LABEL.subarray(22)]).toEqual(new Array(10).fill(0));
  });

  it("counts leading zero bits", () => {
    expect(leadingZeroBits(Uint8Array.of(0x80))).toBe(0);
    expect(leadingZeroBits(Uint8Array.of(0x00, 0x01))).toBe(15);
    expect(leadingZeroBits(Uint8Array.of(0x00, 0x00, 0x3f))).toBe(18);
    expect(leadingZeroBits(new Uint8Array(4))).toBe(32);
  });

  it("finds nonces whose SHA-256 (computed independently) has the asked-for zero bits", async () => {
    for (const bits of [0, 1, 7, 8, 9, 12, 14]) {
      const seed = toHex(randomBytes(32));
      const nonce = solvePuzzle(seed, bits);
      expect(nonce).toMatch(/^[0-9a-f]{16}$/);
      expect(leadingZeroBits(new Uint8Array(nodeDigest(seed, nonce)))).toBeGreaterThanOrEqual(bits);
      expect(await checkPuzzle(seed, bits, nonce)).toBe(true);
    }
  });

  it("the solver's own SHA-256 agrees with Node's on every nonce it reports, across a 32-bit carry", () => {
    const seed = toHex(randomBytes(32));
    const nonce = solvePuzzle(seed, 4, 0xffff_fff0n);
    expect(BigInt(`0x${nonce}`)).toBeGreaterThanOrEqual(0xffff_fff0n);
    expect(leadingZeroBits(new Uint8Array(nodeDigest(seed, nonce)))).toBeGreaterThanOrEqual(4);
  });

  it("refuses a wrong nonce, another seed and malformed input", async () => {
    const seed = toHex(randomBytes(32));
    const nonce = solvePuzzle(seed, 12);
    const other = toHex(randomBytes(32));
    // A 12-bit solution for one seed solves another with probability 2^-12; try two to be sure.
    const otherOk = (await checkPuzzle(other, 12, nonce)) && (await checkPuzzle(toHex(randomBytes(32)), 12, nonce));
    expect(otherOk).toBe(false);
    expect(await checkPuzzle(seed, 12, "zz".repeat(8))).toBe(false);
    expect(await checkPuzzle(seed.slice(2), 12, nonce)).toBe(false);
    expect(await checkPuzzle(seed, 64, nonce)).toBe(false);
  });

  it("refuses to solve more than MAX_PUZZLE_BITS, so nobody can make a client spend more than its budget", () => {
    expect(() => solvePuzzle("00".repeat(32), MAX_PUZZLE_BITS + 1)).toThrow(RangeError);
    expect(() => solvePuzzle("00".repeat(32), -1)).toThrow(RangeError);
  });

  it("bounds an owner's expected work at the largest puzzle to 2^20 hashes (about 0.4 s on one core of the development machine)", () => {
    expect(MAX_PUZZLE_BITS).toBe(20);
    expect(expectedPuzzleWork(MAX_PUZZLE_BITS)).toBe(1_048_576);
  });
});
