import { fromBase64Url, sealRegistration } from "@shallot/protocol";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bearer, call, dbSnapshot, expectError, getChallenge, loginToken, loginWith, scramRegistration, seedAnswer, sendJson, shaHex } from "./helpers.ts";

describe("POST /rotate", () => {
  it("replaces a sha256 hash with a sha512 one; the new mechanism logs in, the old hash no longer does", async () => {
    await sendJson("POST", "/register", { username: "rotor", mechanism: "sha256", hash: await shaHex("sha256", "pw") });
    const token = await loginToken("rotor", "pw");
    const rotated = await sendJson("POST", "/rotate", { username: "rotor", mechanism: "sha512", hash: await shaHex("sha512", "pw") }, bearer(token));
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

  it("ends the user's other sessions and keeps the rotating one", async () => {
    await sendJson("POST", "/register", { username: "two-sessions", mechanism: "sha256", hash: await shaHex("sha256", "pw") });
    const mine = await loginToken("two-sessions", "pw");
    const thiefs = await loginToken("two-sessions", "pw");
    expect((await sendJson("POST", "/rotate", { username: "two-sessions", mechanism: "sha384", hash: await shaHex("sha384", "pw2") }, bearer(mine))).status).toBe(200);
    expect((await call("/me", { headers: bearer(mine) })).status).toBe(200);
    await expectError(await call("/me", { headers: bearer(thiefs) }), 401, "invalid_token");
  });

  it("moves to SCRAM with a sealed body", async () => {
    await sendJson("POST", "/register", { username: "to-scram", mechanism: "sha256", hash: await shaHex("sha256", "old") });
    const token = await loginToken("to-scram", "old");
    const key = (await (await call("/key")).json()) as { keyId: string; publicKey: string };
    const sealed = await sealRegistration(fromBase64Url(key.publicKey), key.keyId, (await scramRegistration("to-scram", "new")) as never);
    const rotated = await sendJson("POST", "/rotate", { sealed }, bearer(token));
    expect(await rotated.json()).toEqual({ username: "to-scram", mechanism: "scram-sha-256" });
    expect((await loginWith("to-scram", "new")).status).toBe(200);
  });

  it("needs a token, and only rotates the token's own user", async () => {
    await sendJson("POST", "/register", { username: "victim", mechanism: "sha256", hash: await shaHex("sha256", "pw") });
    await sendJson("POST", "/register", { username: "attacker", mechanism: "sha256", hash: await shaHex("sha256", "pw") });
    const token = await loginToken("attacker", "pw");
    const body = { username: "victim", mechanism: "sha512", hash: await shaHex("sha512", "mine now") };
    const before = await dbSnapshot();
    const victimRow = await env.DB.prepare("SELECT * FROM users WHERE username = 'victim'").first();
    await expectError(await sendJson("POST", "/rotate", body), 401, "invalid_token");
    await expectError(await sendJson("POST", "/rotate", body, bearer("A".repeat(43))), 401, "invalid_token");
    await expectError(await sendJson("POST", "/rotate", body, bearer(token)), 403, "username_mismatch");
    await expectError(await sendJson("POST", "/rotate", { ...body, username: "attacker", mechanism: "md5" }, bearer(token)), 400, "invalid_request");
    await expectError(await sendJson("POST", "/rotate", "{", bearer(token)), 400, "invalid_json");
    expect(await dbSnapshot()).toEqual(before);
    expect(await env.DB.prepare("SELECT * FROM users WHERE username = 'victim'").first()).toEqual(victimRow);
  });
});
