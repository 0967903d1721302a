import { authMessage, fromBase64, scramKeys, verifyServerSignature } from "@shallot/protocol";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bearer, call, dbSnapshot, loginWith, expectError, getChallenge, registerScram, scramAnswer, scramAuthMessage, scramRegistration, sendJson } from "./helpers.ts";

describe("SCRAM-SHA-256", () => {
  it("registers, challenges with salt and iterations, accepts an independent proof and signs back", async () => {
    const registration = await scramRegistration("sam", "pencil", 4096);
    const registered = await sendJson("POST", "/register", registration);
    expect(registered.status).toBe(201);
    expect(await registered.json()).toEqual({ username: "sam", mechanism: "scram-sha-256" });

    const challenge = await getChallenge("sam");
    expect(Object.keys(challenge).sort()).toEqual(["challengeId", "clientNonce", "iterations", "mechanism", "nonce", "salt"]); // clientNonce: ours
    expect(challenge).toMatchObject({ mechanism: "scram-sha-256", salt: registration.salt, iterations: 4096 });

    const { proof, expectedServerSignature } = await scramAnswer("sam", "pencil", challenge as Required<typeof challenge>);
    const response = await sendJson("POST", "/login", { username: "sam", challengeId: challenge.challengeId, response: proof });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { token: string; expiresAt: number; serverSignature: string };
    expect(Object.keys(body).sort()).toEqual(["expiresAt", "serverSignature", "token"]);
    expect(body.serverSignature).toBe(expectedServerSignature);

    // The shared client-side check accepts it too (the client authenticates the server).
    const keys = await scramKeys("pencil", fromBase64(challenge.salt!), 4096);
    const message = authMessage({ username: "sam", clientNonce: challenge.clientNonce, nonce: challenge.nonce, salt: challenge.salt!, iterations: 4096 });
    expect(message).toBe(scramAuthMessage("sam", challenge.clientNonce, challenge.nonce, challenge.salt!, 4096));
    expect(await verifyServerSignature(keys.serverKey, message, fromBase64(body.serverSignature))).toBe(true);
    expect(await verifyServerSignature((await scramKeys("wrong", fromBase64(challenge.salt!), 4096)).serverKey, message, fromBase64(body.serverSignature))).toBe(false);

    expect(await (await call("/me", { headers: bearer(body.token) })).json()).toEqual({ username: "sam", mechanism: "scram-sha-256" });
  });

  it("stores salt, iterations, StoredKey and ServerKey only", async () => {
    const registration = await scramRegistration("stored", "pw");
    await sendJson("POST", "/register", registration);
    const row = await env.DB.prepare("SELECT * FROM users WHERE username = ?").bind("stored").first();
    expect(row).toMatchObject({ mechanism: "scram-sha-256", password_hash: null, salt: registration.salt, iterations: 4096, stored_key: registration.storedKey, server_key: registration.serverKey });
  });

  it("refuses a wrong password, a proof that is not base64, and a replay", async () => {
    await registerScram("sally", "right");
    const c1 = await getChallenge("sally");
    const wrong = await scramAnswer("sally", "wrong", c1 as Required<typeof c1>);
    await expectError(await sendJson("POST", "/login", { username: "sally", challengeId: c1.challengeId, response: wrong.proof }), 401, "invalid_credentials");
    const c2 = await getChallenge("sally");
    await expectError(await sendJson("POST", "/login", { username: "sally", challengeId: c2.challengeId, response: "not base64!" }), 401, "invalid_credentials");
    const c3 = await getChallenge("sally");
    const right = await scramAnswer("sally", "right", c3 as Required<typeof c3>);
    const body = { username: "sally", challengeId: c3.challengeId, response: right.proof };
    expect((await sendJson("POST", "/login", body)).status).toBe(200);
    await expectError(await sendJson("POST", "/login", body), 401, "challenge_expired");
  });

  it("refuses the stored values used as if they were a password's keys", async () => {
    const registration = await scramRegistration("thief-target", "pw");
    await sendJson("POST", "/register", registration);
    const c = await getChallenge("thief-target");
    const message = new TextEncoder().encode(scramAuthMessage("thief-target", c.clientNonce, c.nonce, c.salt!, c.iterations!));
    // A database thief has StoredKey; HMAC(StoredKey, AuthMessage) alone is not a proof.
    const key = await crypto.subtle.importKey("raw", fromBase64(registration.storedKey), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const forged = btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.sign("HMAC", key, message))));
    await expectError(await sendJson("POST", "/login", { username: "thief-target", challengeId: c.challengeId, response: forged }), 401, "invalid_credentials");
  });

  it("takes the client nonce of RFC 5802's client-first message and binds the proof to both nonces", async () => {
    await registerScram("nonces", "pw");
    const c = await getChallenge("nonces");
    // The whole nonce is the client's followed by 64 hex characters of the server's.
    expect(c.nonce.startsWith(c.clientNonce)).toBe(true);
    expect(c.nonce.slice(c.clientNonce.length)).toMatch(/^[0-9a-f]{64}$/);
    // A proof that names another client nonce (or drops the server's part) is refused, and spends the challenge.
    const otherClient = await scramAnswer("nonces", "pw", { ...(c as Required<typeof c>), clientNonce: "ab".repeat(16) });
    await expectError(await sendJson("POST", "/login", { username: "nonces", challengeId: c.challengeId, response: otherClient.proof }), 401, "invalid_credentials");
    const c2 = await getChallenge("nonces");
    const serverOnly = await scramAnswer("nonces", "pw", { ...(c2 as Required<typeof c2>), nonce: c2.nonce.slice(c2.clientNonce.length) });
    await expectError(await sendJson("POST", "/login", { username: "nonces", challengeId: c2.challengeId, response: serverOnly.proof }), 401, "invalid_credentials");
    expect((await loginWith("nonces", "pw")).status).toBe(200);
  });

  it("refuses a SCRAM challenge without a client nonce, storing nothing", async () => {
    await registerScram("no-nonce", "pw");
    const before = await dbSnapshot();
    const refused = await expectError(await sendJson("POST", "/challenge", { username: "no-nonce" }), 400, "invalid_request");
    expect(refused.message).toMatch(/clientNonce/);
    expect(await dbSnapshot()).toEqual(before);
  });

  it("escapes ',' and '=' of the username in the AuthMessage", async () => {
    await registerScram("a,b=c", "pw");
    const c = await getChallenge("a,b=c");
    const { proof } = await scramAnswer("a,b=c", "pw", c as Required<typeof c>);
    expect((await sendJson("POST", "/login", { username: "a,b=c", challengeId: c.challengeId, response: proof })).status).toBe(200);
  });

  it("accepts 100,000 iterations and refuses more, or fewer than 4096, storing nothing", async () => {
    expect((await sendJson("POST", "/register", await scramRegistration("max-iter", "pw", 100_000))).status).toBe(201);
    const base = await scramRegistration("bad-iter", "pw", 4096);
    const before = await dbSnapshot();
    for (const iterations of [100_001, 4095, 0, -1, 4096.5, "4096", 1e9]) {
      await expectError(await sendJson("POST", "/register", { ...base, iterations }), 400, "invalid_request");
    }
    await expectError(await sendJson("POST", "/register", { ...base, salt: btoa("short") }), 400, "invalid_request");
    await expectError(await sendJson("POST", "/register", { ...base, storedKey: base.storedKey.slice(0, -4) }), 400, "invalid_request");
    expect(await dbSnapshot()).toEqual(before);
  });
});
