import { fromBase64Url, sealRegistration } from "@shallot/protocol";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS } from "../src/env.ts";
import { answerTo, bearer, call, callWith, dbSnapshot, expectError, getChallenge, loginToken, loginWith, registerScram, registerSeed, rotationOf, scramRegistration, seedAnswer, sendJson, shaHex } from "./helpers.ts";

/** A fresh proof of `password` for `username`, bound to the rotation to `registration`: the challengeId and response a rotation carries. */
async function proofOf(username: string, password: string, registration: Record<string, unknown>) {
  const challenge = await getChallenge(username);
  return { challengeId: challenge.challengeId, response: await answerTo(username, password, challenge, await rotationOf(registration)) };
}

/** The body of a rotation to `registration` with a fresh bound proof of `password`. */
const rotation = async (username: string, password: string, registration: Record<string, unknown>) => ({ ...(await proofOf(username, password, registration)), ...registration });

describe("POST /rotate", () => {
  it("replaces a sha256 hash with a sha512 one, given a fresh proof; the new mechanism logs in, the old hash no longer does", async () => {
    await sendJson("POST", "/register", { username: "rotor", mechanism: "sha256", hash: await shaHex("sha256", "pw") });
    const token = await loginToken("rotor", "pw");
    const rotated = await sendJson("POST", "/rotate", await rotation("rotor", "pw", { username: "rotor", mechanism: "sha512", hash: await shaHex("sha512", "pw") }), bearer(token));
    expect(rotated.status).toBe(200);
    expect(await rotated.json()).toEqual({ username: "rotor", mechanism: "sha512" });
    const row = await env.DB.prepare("SELECT mechanism, password_hash, created_at, rotated_at FROM users WHERE username = ?").bind("rotor").first<Record<string, unknown>>();
    expect(row).toMatchObject({ mechanism: "sha512", password_hash: await shaHex("sha512", "pw") });
    expect(row!.rotated_at).toBeGreaterThanOrEqual(row!.created_at as number);

    const challenge = await getChallenge("rotor");
    expect(challenge.mechanism).toBe("sha512");
    // Whoever stole the sha256 hash answers with it: refused.
    const stolen = await shaHex("sha256", `${await shaHex("sha256", "pw")}${challenge.nonce}`);
    await expectError(await sendJson("POST", "/login", { username: "rotor", challengeId: challenge.challengeId, response: stolen }), 401, "invalid_credentials");
    const fresh = await getChallenge("rotor");
    const response = await sendJson("POST", "/login", { username: "rotor", challengeId: fresh.challengeId, response: await seedAnswer("sha512", "pw", fresh.nonce) });
    expect(response.status).toBe(200);
    expect(await (await call("/me", { headers: bearer(token) })).json()).toEqual({ username: "rotor", mechanism: "sha512" });
  });

  it("refuses a stolen token without a proof of the password: the owner's password and token keep working", async () => {
    await registerScram("owner", "owner's password");
    const token = await loginToken("owner", "owner's password");
    const takeover = { username: "owner", mechanism: "sha256", hash: await shaHex("sha256", "thief's password") };
    const before = await dbSnapshot();
    const row = await env.DB.prepare("SELECT * FROM users WHERE username = 'owner'").first();
    // The token alone (the seed's rotation) is not enough any more.
    await expectError(await sendJson("POST", "/rotate", takeover, bearer(token)), 400, "invalid_request");
    expect(await dbSnapshot()).toEqual(before);
    // A proof made with a guessed password fails like a wrong login, and changes nothing.
    await expectError(await sendJson("POST", "/rotate", await rotation("owner", "guess", takeover), bearer(token)), 401, "invalid_credentials");
    // A proof for a challenge of another user, or a made-up one, has no challenge to answer: refused.
    await registerScram("thief", "thief's password");
    await expectError(await sendJson("POST", "/rotate", await rotation("thief", "thief's password", takeover), bearer(token)), 401, "challenge_expired");
    await expectError(await sendJson("POST", "/rotate", { challengeId: "0".repeat(32), response: "AAAA", ...takeover }, bearer(token)), 401, "challenge_expired");
    expect(await env.DB.prepare("SELECT * FROM users WHERE username = 'owner'").first()).toEqual(row);
    expect((await call("/me", { headers: bearer(token) })).status).toBe(200);
    expect((await loginWith("owner", "owner's password")).status).toBe(200);
    expect((await loginWith("owner", "thief's password")).status).toBe(401);
  });

  it("takes only a proof bound to this rotation: a login's proof beside a stolen token, or one bound to another verifier, changes nothing", async () => {
    for (const [name, register] of [
      ["bound-scram", () => registerScram("bound-scram", "owner pw")],
      ["bound-seed", () => registerSeed("bound-seed", "owner pw")],
    ] as const) {
      await register();
      const token = await loginToken(name, "owner pw");
      const takeover = { username: name, mechanism: "sha256", hash: await shaHex("sha256", "thief pw") };
      const row = await env.DB.prepare("SELECT * FROM users WHERE username = ?").bind(name).first();
      // What an exit on a plain HTTP path holds: the token, and the owner's next login held back.
      const held = await getChallenge(name);
      const loginProof = { challengeId: held.challengeId, response: await answerTo(name, "owner pw", held) };
      await expectError(await sendJson("POST", "/rotate", { ...loginProof, ...takeover }, bearer(token)), 401, "invalid_credentials");
      // The owner's own rotation, intercepted: its proof does not carry the thief's verifier.
      const mine = { username: name, mechanism: "sha512", hash: await shaHex("sha512", "owner pw 2") };
      await expectError(await sendJson("POST", "/rotate", { ...(await proofOf(name, "owner pw", mine)), ...takeover }, bearer(token)), 401, "invalid_credentials");
      expect(await env.DB.prepare("SELECT * FROM users WHERE username = ?").bind(name).first(), name).toEqual(row);
      expect((await loginWith(name, "owner pw")).status, name).toBe(200);
      // A rotation's proof does not log in either.
      const c = await getChallenge(name);
      const bound = await answerTo(name, "owner pw", c, await rotationOf(mine));
      await expectError(await sendJson("POST", "/login", { username: name, challengeId: c.challengeId, response: bound }), 401, "invalid_credentials");
    }
  });

  it("answers a SCRAM rotation with the server signature over the proof", async () => {
    await registerScram("signed", "pw");
    const token = await loginToken("signed", "pw");
    const rotated = await sendJson("POST", "/rotate", await rotation("signed", "pw", await scramRegistration("signed", "pw2")), bearer(token));
    const body = (await rotated.json()) as Record<string, unknown>;
    expect(body).toEqual({ username: "signed", mechanism: "scram-sha-256", serverSignature: expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/) });
    expect((await loginWith("signed", "pw2")).status).toBe(200);
  });

  it("ends the user's other sessions and keeps the rotating one", async () => {
    await sendJson("POST", "/register", { username: "two-sessions", mechanism: "sha256", hash: await shaHex("sha256", "pw") });
    const mine = await loginToken("two-sessions", "pw");
    const thiefs = await loginToken("two-sessions", "pw");
    const body = await rotation("two-sessions", "pw", { username: "two-sessions", mechanism: "sha384", hash: await shaHex("sha384", "pw2") });
    expect((await sendJson("POST", "/rotate", body, bearer(mine))).status).toBe(200);
    expect((await call("/me", { headers: bearer(mine) })).status).toBe(200);
    await expectError(await call("/me", { headers: bearer(thiefs) }), 401, "invalid_token");
  });

  it("moves to SCRAM with a sealed body", async () => {
    await sendJson("POST", "/register", { username: "to-scram", mechanism: "sha256", hash: await shaHex("sha256", "old") });
    const token = await loginToken("to-scram", "old");
    const key = (await (await call("/key")).json()) as { keyId: string; publicKey: string };
    const registration = await scramRegistration("to-scram", "new");
    const sealed = await sealRegistration(fromBase64Url(key.publicKey), key.keyId, registration as never);
    // Bound to the verifier inside the seal, which the client knows and the server opens.
    const rotated = await sendJson("POST", "/rotate", { ...(await proofOf("to-scram", "old", registration)), sealed }, bearer(token));
    expect(await rotated.json()).toEqual({ username: "to-scram", mechanism: "scram-sha-256" });
    expect((await loginWith("to-scram", "new")).status).toBe(200);
  });

  it("needs a token, and only rotates the token's own user", async () => {
    await sendJson("POST", "/register", { username: "victim", mechanism: "sha256", hash: await shaHex("sha256", "pw") });
    await sendJson("POST", "/register", { username: "attacker", mechanism: "sha256", hash: await shaHex("sha256", "pw") });
    const token = await loginToken("attacker", "pw");
    const body = { ...(await proofOf("attacker", "pw", { username: "victim", mechanism: "sha512", hash: await shaHex("sha512", "mine now") })), username: "victim", mechanism: "sha512", hash: await shaHex("sha512", "mine now") };
    const victimRow = await env.DB.prepare("SELECT * FROM users WHERE username = 'victim'").first();
    const before = await dbSnapshot();
    await expectError(await sendJson("POST", "/rotate", body), 401, "invalid_token");
    await expectError(await sendJson("POST", "/rotate", body, bearer("A".repeat(43))), 401, "invalid_token");
    await expectError(await sendJson("POST", "/rotate", body, bearer(token)), 403, "username_mismatch");
    await expectError(await sendJson("POST", "/rotate", { ...body, username: "attacker", mechanism: "md5" }, bearer(token)), 400, "invalid_request");
    await expectError(await sendJson("POST", "/rotate", "{", bearer(token)), 400, "invalid_json");
    expect(await dbSnapshot()).toEqual(before);
    expect(await env.DB.prepare("SELECT * FROM users WHERE username = 'victim'").first()).toEqual(victimRow);
  });
});

describe("POST /logout and the session cap", () => {
  it("revokes the token it is sent with, and only that one", async () => {
    await registerScram("leaver", "pw");
    const first = await loginToken("leaver", "pw");
    const second = await loginToken("leaver", "pw");
    const out = await call("/logout", { method: "POST", headers: bearer(first) });
    expect(out.status).toBe(200);
    expect(await out.json()).toEqual({ revoked: true });
    await expectError(await call("/me", { headers: bearer(first) }), 401, "invalid_token");
    await expectError(await call("/logout", { method: "POST", headers: bearer(first) }), 401, "invalid_token");
    expect((await call("/me", { headers: bearer(second) })).status).toBe(200);
    await expectError(await call("/logout", { method: "POST" }), 401, "invalid_token");
  });

  it("keeps at most maxSessionsPerUser sessions a user (default 10), evicting the oldest", async () => {
    expect(DEFAULT_LIMITS.maxSessionsPerUser).toBe(10);
    const send = callWith({ AUTH_LIMITS: JSON.stringify({ maxSessionsPerUser: 3 }) });
    await registerScram("busy-user", "pw");
    const tokens: string[] = [];
    for (let i = 0; i < 5; i++) tokens.push(await loginToken("busy-user", "pw", send));
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE username = 'busy-user'").first("n")).toBe(3);
    for (const [i, token] of tokens.entries()) expect((await call("/me", { headers: bearer(token) })).status, `token ${i}`).toBe(i < 2 ? 401 : 200);
  });
});
