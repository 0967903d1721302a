import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DEFAULT_SEED_MECHANISM, SEED_HASHES, SEED_MECHANISMS, hashPassword, seedResponse, verifySeedResponse } from "./mechanisms.ts";

// Node's hash names for an independent computation.
const NODE = { sha256: "sha256", sha384: "sha384", sha512: "sha512" } as const;
const nodeHex = (algorithm: string, text: string) => createHash(algorithm).update(text, "utf8").digest("hex");

describe("seed challenge-response", () => {
  it("defaults to sha256", () => expect(DEFAULT_SEED_MECHANISM).toBe("sha256"));

  it("hashes 'abc' to the FIPS 180 value", async () => {
    expect(await hashPassword("sha256", "abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  describe.each(SEED_MECHANISMS)("%s", (mechanism) => {
    it("computes hex(H(hex(H(password)) ‖ nonce)) as Node's crypto does", async () => {
      const password = "pässwörd with spaces";
      const nonce = "0123456789abcdef".repeat(4);
      const hash = await hashPassword(mechanism, password);
      expect(hash).toBe(nodeHex(NODE[mechanism], password));
      expect(hash).toHaveLength(SEED_HASHES[mechanism].hexLength);
      const response = await seedResponse(mechanism, hash, nonce);
      expect(response).toBe(nodeHex(NODE[mechanism], hash + nonce));
      expect(await verifySeedResponse(mechanism, hash, nonce, response)).toBe(true);
      expect(await verifySeedResponse(mechanism, hash, nonce, response.toUpperCase())).toBe(false);
      expect(await verifySeedResponse(mechanism, hash, `${nonce.slice(1)}0`, response)).toBe(false);
      expect(await verifySeedResponse(mechanism, hash, nonce, "")).toBe(false);
    });
  });
});
