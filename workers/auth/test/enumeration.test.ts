import { describe, expect, it } from "vitest";
import { type ChallengeBody, expectError, getChallenge, loginWith, registerScram, registerSeed, sendJson, shaHex } from "./helpers.ts";

const shape = (c: ChallengeBody) => Object.fromEntries(Object.entries(c).map(([k, v]) => [k, typeof v]));

describe("unknown usernames", () => {
  it("get challenges shaped like real ones, the same on every call", async () => {
    await registerSeed("real-seed", "pw");
    await registerScram("real-scram", "pw", 100_000);
    const real = { seed: await getChallenge("real-seed"), scram: await getChallenge("real-scram") };
    const seen = new Set<string>();
    for (let i = 0; i < 48; i++) {
      const name = `ghost-${i}`;
      const first = await getChallenge(name);
      const second = await getChallenge(name);
      seen.add(first.mechanism);
      expect(shape(first)).toEqual(shape(first.mechanism === "scram-sha-256" ? real.scram : { ...real.seed, mechanism: first.mechanism }));
      expect(first.nonce).toMatch(first.mechanism === "scram-sha-256" ? new RegExp(`^${first.clientNonce}[0-9a-f]{64}$`) : /^[0-9a-f]{64}$/);
      expect(first.challengeId).toMatch(/^[0-9a-f]{32}$/);
      // Consistent across calls, fresh nonce and id each time.
      expect({ ...second, challengeId: "", nonce: "", clientNonce: "" }).toEqual({ ...first, challengeId: "", nonce: "", clientNonce: "" });
      expect(second.nonce).not.toBe(first.nonce);
      if (first.mechanism === "scram-sha-256") {
        expect(first.iterations).toBe(100_000);
        expect(atob(first.salt!)).toHaveLength(16);
      }
    }
    // No mechanism is a tell: unknown names are spread over all of them (48 draws miss one with p ≈ 4e-6).
    expect([...seen].sort()).toEqual(["scram-sha-256", "sha256", "sha384", "sha512"]);
  });

  it("fail to log in with the same answer as a wrong password", async () => {
    await registerSeed("known", "pw");
    const wrong = await expectError(await loginWith("known", "nope"), 401, "invalid_credentials");
    const unknown = await expectError(await loginWith("nobody-here", "pw"), 401, "invalid_credentials");
    expect(unknown).toEqual(wrong);
  });

  it("cannot be logged into with the stand-in verifier the server checks unknown names against", async () => {
    for (let i = 0; ; i++) {
      const c = await getChallenge(`stand-in-${i}`);
      if (c.mechanism === "scram-sha-256") continue;
      // The server checks an unknown name's response against a hash of zeros, so the cost matches a real user's.
      const response = await shaHex(c.mechanism as "sha256", "0".repeat(128) + c.nonce);
      await expectError(await sendJson("POST", "/login", { username: `stand-in-${i}`, challengeId: c.challengeId, response }), 401, "invalid_credentials");
      break;
    }
  });
});
