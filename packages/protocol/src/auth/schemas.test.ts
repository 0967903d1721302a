import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { fromBase64, toBase64 } from "./base64.ts";
import { ChallengeRequestSchema, ChallengeSchema, RegisterRequestSchema, RegistrationSchema, UsernameSchema } from "./schemas.ts";

const key32 = toBase64(new Uint8Array(32).fill(7));
const scram = { username: "bob", mechanism: "scram-sha-256", salt: toBase64(new Uint8Array(16)), iterations: 4096, storedKey: key32, serverKey: key32 };

describe("auth schemas", () => {
  it("accepts 1-64 printable characters as a username, SQL metacharacters included", () => {
    for (const name of ["a", "o'brien; DROP TABLE users;--", "Zoë 🧅", "x".repeat(64), "a,b=c"]) expect(v.is(UsernameSchema, name), name).toBe(true);
    for (const name of ["", "x".repeat(65), "tab\there", "new\nline", "nul\u0000", "bidi\u202e", "sep\u2028"]) expect(v.is(UsernameSchema, name), JSON.stringify(name)).toBe(false);
    expect(v.is(UsernameSchema, "🧅".repeat(64))).toBe(true); // counted in code points, not UTF-16 units
  });

  it("has one spelling per name a reader sees: NFC, no space at either end, no leading combining mark", () => {
    for (const name of ["café", "a b", "Zoë", "alice bob", "名前", "q\u0301x"]) expect(v.is(UsernameSchema, name), name).toBe(true);
    // "café" decomposed, spaces around a name, bare combining marks: each would be a second "café" or "alice".
    for (const name of [
      "cafe\u0301", " alice", "alice ", "alice\u00a0", "\u3000alice", "\u0301alice", "\u0301".repeat(64),
      // Spaces other than U+0020, or two in a row; characters that render as nothing; blank symbols.
      "alice\u00a0bob", "alice\u2007bob", "alice\u202fbob", "alice  bob",
      "a\u034fb", "a\ufe0fb", "a\u{e0100}b", "a\u180bb", "a\u17b4b", "ab\u034f",
      "ab\u2800", "\u2800ab", "ab\u3164", "ab\u115f", "ab\uffa0",
    ]) {
      expect(v.is(UsernameSchema, name), JSON.stringify(name)).toBe(false);
    }
  });

  it("ties the hash length to the seed mechanism", () => {
    expect(v.is(RegistrationSchema, { username: "a", mechanism: "sha256", hash: "0".repeat(64) })).toBe(true);
    expect(v.is(RegistrationSchema, { username: "a", mechanism: "sha512", hash: "0".repeat(64) })).toBe(false);
    expect(v.is(RegistrationSchema, { username: "a", mechanism: "sha384", hash: "0".repeat(96) })).toBe(true);
    expect(v.is(RegistrationSchema, { username: "a", mechanism: "sha256", hash: "A".repeat(64) })).toBe(false);
    expect(v.is(RegistrationSchema, { username: "a", mechanism: "md5", hash: "0".repeat(32) })).toBe(false);
    expect(v.is(RegistrationSchema, { username: "a", mechanism: "sha256", hash: "0".repeat(64), extra: 1 })).toBe(false);
  });

  it("bounds SCRAM iterations and checks key and salt sizes", () => {
    expect(v.is(RegistrationSchema, scram)).toBe(true);
    expect(v.is(RegistrationSchema, { ...scram, iterations: 100_000 })).toBe(true);
    expect(v.is(RegistrationSchema, { ...scram, iterations: 100_001 })).toBe(false);
    expect(v.is(RegistrationSchema, { ...scram, iterations: 4095 })).toBe(false);
    expect(v.is(RegistrationSchema, { ...scram, iterations: 5000.5 })).toBe(false);
    expect(v.is(RegistrationSchema, { ...scram, salt: toBase64(new Uint8Array(8)) })).toBe(false);
    expect(v.is(RegistrationSchema, { ...scram, storedKey: key32.replace(/=$/, "") })).toBe(false);
    expect(v.is(RegistrationSchema, { ...scram, serverKey: toBase64(new Uint8Array(31)) })).toBe(false);
  });

  it("takes a sealed body or a clear one at /register", () => {
    expect(v.is(RegisterRequestSchema, scram)).toBe(true);
    expect(v.is(RegisterRequestSchema, { sealed: { keyId: "0".repeat(16), enc: "A".repeat(43), ciphertext: "A".repeat(40) } })).toBe(true);
    expect(v.is(RegisterRequestSchema, { sealed: { keyId: "0".repeat(16), enc: "A".repeat(43) } })).toBe(false);
  });

  it("describes both challenge shapes", () => {
    const base = { challengeId: "0".repeat(32), nonce: "f".repeat(64) };
    expect(v.is(ChallengeSchema, { ...base, mechanism: "sha384" })).toBe(true);
    // A SCRAM nonce is the client's (32 to 128 hex) followed by the server's 64.
    expect(v.is(ChallengeSchema, { ...base, mechanism: "scram-sha-256", salt: scram.salt, iterations: 4096 })).toBe(false);
    expect(v.is(ChallengeSchema, { ...base, nonce: "a".repeat(32) + base.nonce, mechanism: "scram-sha-256", salt: scram.salt, iterations: 4096 })).toBe(true);
    expect(v.is(ChallengeSchema, { ...base, nonce: "a".repeat(32) + base.nonce, mechanism: "scram-sha-256", salt: "short", iterations: 4096 })).toBe(false);
  });

  it("takes a client nonce and a puzzle solution in a challenge request", () => {
    expect(v.is(ChallengeRequestSchema, { username: "a" })).toBe(true);
    expect(v.is(ChallengeRequestSchema, { username: "a", clientNonce: "0".repeat(32), pow: { seed: "1".repeat(64), nonce: "2".repeat(16) } })).toBe(true);
    for (const clientNonce of ["0".repeat(31), "0".repeat(129), "G".repeat(32), "A".repeat(32)]) expect(v.is(ChallengeRequestSchema, { username: "a", clientNonce })).toBe(false);
    expect(v.is(ChallengeRequestSchema, { username: "a", pow: { seed: "1".repeat(64) } })).toBe(false);
  });

  it("reads only canonical padded base64", () => {
    expect(fromBase64("AAE=")).toEqual(new Uint8Array([0, 1]));
    for (const bad of ["AAE", "AAF=", "AA-_", "A==="]) expect(() => fromBase64(bad), bad).toThrow(TypeError);
  });
});
