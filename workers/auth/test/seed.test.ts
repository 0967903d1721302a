import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SEEDS, bearer, call, dbSnapshot, expectError, getChallenge, loginWith, registerSeed, seedAnswer, sendJson, shaHex } from "./helpers.ts";

describe("seed challenge-response", () => {
  describe.each(SEEDS)("%s", (mechanism) => {
    it("registers, challenges, accepts an independently computed response and answers /me", async () => {
      const username = `seed-${mechanism}`;
      expect(await registerSeed(username, "hunter2", mechanism)).toEqual({ username, mechanism });
      // Exactly the seed's request: the username alone.
      const challenge = (await (await sendJson("POST", "/challenge", { username })).json()) as { challengeId: string; nonce: string; mechanism: string };
      expect(Object.keys(challenge).sort()).toEqual(["challengeId", "mechanism", "nonce"]);
      expect(challenge.mechanism).toBe(mechanism);
      expect(challenge.nonce).toMatch(/^[0-9a-f]{64}$/); // 256 bits, lowercase hex
      const response = await sendJson("POST", "/login", { username, challengeId: challenge.challengeId, response: await seedAnswer(mechanism, "hunter2", challenge.nonce) });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { token: string; expiresAt: number };
      expect(Object.keys(body).sort()).toEqual(["expiresAt", "token"]);
      expect(body.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(body.expiresAt).toBeGreaterThan(Date.now() + 3_500_000);
      const me = await call("/me", { headers: bearer(body.token) });
      expect(await me.json()).toEqual({ username, mechanism });
    });
  });

  it("stores only the hash and never the token", async () => {
    await registerSeed("hash-only", "s3cret");
    const row = await env.DB.prepare("SELECT * FROM users WHERE username = ?").bind("hash-only").first();
    expect(row).toMatchObject({ mechanism: "sha256", password_hash: await shaHex("sha256", "s3cret"), salt: null, stored_key: null });
    expect(JSON.stringify(row)).not.toContain("s3cret");
    const response = await loginWith("hash-only", "s3cret");
    const { token } = (await response.json()) as { token: string };
    const sessions = await env.DB.prepare("SELECT token_hash FROM sessions WHERE username = ?").bind("hash-only").all<{ token_hash: string }>();
    expect(sessions.results.map((r) => r.token_hash)).toEqual([await shaHex("sha256", token)]);
  });

  it("refuses a replayed response: the challenge was spent by the first login", async () => {
    await registerSeed("replay", "pw");
    const challenge = await getChallenge("replay");
    const body = { username: "replay", challengeId: challenge.challengeId, response: await seedAnswer("sha256", "pw", challenge.nonce) };
    expect((await sendJson("POST", "/login", body)).status).toBe(200);
    await expectError(await sendJson("POST", "/login", body), 401, "challenge_expired");
  });

  it("refuses a wrong response and spends the challenge, so the right one then fails too", async () => {
    await registerSeed("wrong", "right");
    const challenge = await getChallenge("wrong");
    await expectError(await loginWith("wrong", "not right", challenge), 401, "invalid_credentials");
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM challenges WHERE id = ?").bind(challenge.challengeId).first("n")).toBe(0);
    await expectError(await loginWith("wrong", "right", challenge), 401, "challenge_expired");
  });

  it("refuses an expired challenge", async () => {
    await registerSeed("late", "pw");
    const challenge = await getChallenge("late");
    const row = await env.DB.prepare("SELECT created_at, expires_at FROM challenges WHERE id = ?").bind(challenge.challengeId).first<{ created_at: number; expires_at: number }>();
    expect(row!.expires_at - row!.created_at).toBe(60_000);
    await env.DB.prepare("UPDATE challenges SET expires_at = ? WHERE id = ?").bind(Date.now() - 1, challenge.challengeId).run();
    await expectError(await loginWith("late", "pw", challenge), 401, "challenge_expired");
  });

  it("tells an evicted challenge from a wrong password: challenge_expired, and no failure counted", async () => {
    await registerSeed("evicted", "pw");
    const mine = await getChallenge("evicted");
    // Someone else asks for the name's challenges: past 4 live, the oldest (this one) goes.
    for (let i = 0; i < 4; i++) await getChallenge("evicted");
    const before = await dbSnapshot();
    await expectError(await loginWith("evicted", "pw", mine), 401, "challenge_expired");
    expect((await dbSnapshot()).counts.pressure).toBe(before.counts.pressure);
    expect((await loginWith("evicted", "pw")).status).toBe(200);
  });

  it("binds a challenge to the username it was issued for", async () => {
    await registerSeed("alice-seed", "same password");
    await registerSeed("bob-seed", "same password");
    const forAlice = await getChallenge("alice-seed");
    await expectError(await loginWith("bob-seed", "same password", forAlice), 401, "challenge_expired");
    // …and trying it under another name spent it.
    await expectError(await loginWith("alice-seed", "same password", forAlice), 401, "challenge_expired");
  });

  it("refuses an unknown challenge id and a response in upper case", async () => {
    await registerSeed("casey", "pw");
    await expectError(await sendJson("POST", "/login", { username: "casey", challengeId: "0".repeat(32), response: "00" }), 401, "challenge_expired");
    const challenge = await getChallenge("casey");
    const upper = (await seedAnswer("sha256", "pw", challenge.nonce)).toUpperCase();
    await expectError(await sendJson("POST", "/login", { username: "casey", challengeId: challenge.challengeId, response: upper }), 401, "invalid_credentials");
  });

  it("answers 409 for a taken username and keeps the first verifier", async () => {
    await registerSeed("taken", "first");
    const before = await dbSnapshot();
    await expectError(await sendJson("POST", "/register", { username: "taken", mechanism: "sha512", hash: await shaHex("sha512", "second") }), 409, "user_exists");
    expect(await dbSnapshot()).toEqual(before);
    expect((await loginWith("taken", "first")).status).toBe(200);
  });

  it("stores SQL metacharacters in a username as plain text", async () => {
    const username = "o'brien; DROP TABLE users;--";
    const before = await dbSnapshot();
    await registerSeed(username, "pw'); DELETE FROM sessions;--");
    const token = await (await loginWith(username, "pw'); DELETE FROM sessions;--")).json() as { token: string };
    expect(await (await call("/me", { headers: bearer(token.token) })).json()).toEqual({ username, mechanism: "sha256" });
    const after = await dbSnapshot();
    expect(after.tables).toEqual(before.tables);
    expect(after.counts.users).toBe(before.counts.users + 1);
    expect(await env.DB.prepare("SELECT username FROM users WHERE username = ?").bind(username).first("username")).toBe(username);
  });

  it("accepts the exact shell formula from docs/auth.md", async () => {
    // printf '%s%s' "$(printf '%s' "$PASSWORD" | sha256sum | cut -d' ' -f1)" "$NONCE" | sha256sum
    await registerSeed("shell", "correct horse battery staple");
    const challenge = await getChallenge("shell");
    const hash = await shaHex("sha256", "correct horse battery staple");
    const response = await shaHex("sha256", `${hash}${challenge.nonce}`);
    expect((await sendJson("POST", "/login", { username: "shell", challengeId: challenge.challengeId, response })).status).toBe(200);
  });
});
