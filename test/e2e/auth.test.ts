import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Recorder, startRecorder } from "./recorder.ts";

const mesh = inject("mesh");
const json = (body: unknown) => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
const gateway = (path: string, body: unknown) => fetch(`${mesh.urls.relay}${path}`, json(body));
const through = (target: string, init: RequestInit) => fetch(`${mesh.urls.relay}/fetch?url=${encodeURIComponent(target)}`, init);
const fresh = (prefix: string) => `${prefix}-${randomBytes(6).toString("hex")}`;
/** The seed's response, computed by the shell tools the README shows. */
const shellResponse = (password: string, nonce: string) =>
  execFileSync("sh", ["-c", `printf '%s%s' "$(printf '%s' "$PASSWORD" | sha256sum | cut -d' ' -f1)" "$NONCE" | sha256sum | cut -d' ' -f1`], {
    env: { ...process.env, PASSWORD: password, NONCE: nonce },
  })
    .toString()
    .trim();

let recorder: Recorder;
beforeAll(async () => {
  recorder = await startRecorder(mesh.urls.auth);
});
afterAll(async () => {
  await recorder?.close();
});

describe("auth through the network", () => {
  it("registers and logs in through the gateway (SCRAM by default), and the token works on /me", async () => {
    const username = fresh("alice");
    const registered = await gateway("/auth/register", { username, password: "correct horse battery" });
    expect(registered.status).toBe(201);
    expect(await registered.json()).toEqual({ username, mechanism: "scram-sha-256" });
    expect(registered.headers.get("onion-circuit")!.split(",")).toHaveLength(3);

    const login = await gateway("/auth/login", { username, password: "correct horse battery" });
    expect(login.status).toBe(200);
    const { token, expiresAt } = (await login.json()) as { token: string; expiresAt: number };
    expect(expiresAt).toBeGreaterThan(Date.now());
    const me = await fetch(`${mesh.urls.auth}/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(await me.json()).toEqual({ username, mechanism: "scram-sha-256" });

    const wrong = await gateway("/auth/login", { username, password: "not it" });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: "invalid_credentials" });
  });

  it("logs in with the seed's scheme only when the login asks for it", async () => {
    const username = fresh("bob");
    expect((await gateway("/auth/register", { username, password: "pw-bob", mechanism: "sha384" })).status).toBe(201);
    // The gateway pins scram-sha-256 unless told: a sha384 challenge is refused before anything is computed.
    const pinned = await gateway("/auth/login", { username, password: "pw-bob" });
    expect(pinned.status).toBe(502);
    expect(await pinned.json()).toMatchObject({ error: "mechanism_mismatch" });
    expect((await gateway("/auth/login", { username, password: "pw-bob", mechanism: "sha384" })).status).toBe(200);
  });

  it("never lets the exit relay see the password, its hash, the username or the token", async () => {
    const username = fresh("carol");
    const password = `secret-${randomBytes(8).toString("hex")}`;
    const tokens: string[] = [];
    for (const mechanism of ["scram-sha-256", "sha256"]) {
      const name = `${username}-${mechanism}`;
      expect((await gateway("/auth/register", { username: name, password, mechanism, server: recorder.url, serverKey: mesh.authKey })).status).toBe(201);
      const login = await gateway("/auth/login", { username: name, password, mechanism, server: recorder.url, serverKey: mesh.authKey });
      expect(login.status).toBe(200);
      tokens.push(((await login.json()) as { token: string }).token);
    }
    const forwarded = recorder.seen.join("\n");
    // The recorder did see the flows (so the search below would have found a leak): one route, encapsulated.
    expect(recorder.seen.length).toBeGreaterThanOrEqual(6);
    for (const request of recorder.seen) expect(request).toMatch(/^POST \/ohttp\n.*"content-type":"message\/ohttp-req"/s);
    // ...but neither the password nor H(password), nor the username, nor a token.
    expect(forwarded).not.toContain(password);
    for (const algorithm of ["sha256", "sha384", "sha512"]) expect(forwarded).not.toContain(createHash(algorithm).update(password).digest("hex"));
    expect(forwarded).not.toContain(username);
    for (const token of tokens) expect(forwarded).not.toContain(token);
  });

  it("works step by step as the seed describes: clear sha256 hash, challenge, sha256sum response — directly and through /fetch", async () => {
    for (const via of ["direct", "fetch"] as const) {
      const username = fresh(`dave-${via}`);
      const password = "hunter2";
      const post = (path: string, body: unknown) => (via === "direct" ? fetch(`${mesh.urls.auth}${path}`, json(body)) : through(`${mesh.urls.auth}${path}`, json(body)));
      const hash = createHash("sha256").update(password).digest("hex");
      const registered = await post("/register", { username, mechanism: "sha256", hash });
      expect(registered.status).toBe(201);
      const challenge = (await (await post("/challenge", { username })).json()) as { challengeId: string; nonce: string; mechanism: string };
      expect(challenge.mechanism).toBe("sha256");
      const response = shellResponse(password, challenge.nonce);
      const login = await post("/login", { username, challengeId: challenge.challengeId, response });
      expect(login.status).toBe(200);
      const { token } = (await login.json()) as { token: string };
      const me = await (via === "direct" ? fetch(`${mesh.urls.auth}/me`, { headers: { authorization: `Bearer ${token}` } }) : through(`${mesh.urls.auth}/me`, { headers: { authorization: `Bearer ${token}` } }));
      expect(await me.json()).toEqual({ username, mechanism: "sha256" });
      // The same answer again is refused: the challenge is spent.
      expect((await post("/login", { username, challengeId: challenge.challengeId, response })).status).toBe(401);
      // docs/auth.md §8: rotating to sha512 takes the token and a fresh proof, then sha512 logs in.
      const auth = (path: string, body: unknown) => post(path, body).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, string> }));
      const current = (await auth("/challenge", { username })).body;
      const hash512 = createHash("sha512").update(password).digest("hex");
      // Bound to the new hash (docs/auth.md §2.5.1), as the shell computes it.
      const rotation = `rotate:${createHash("sha256").update(`${username}\nsha512\n${hash512}`).digest("hex")}`;
      const rotate = { challengeId: current.challengeId, response: shellResponse(password, `${current.nonce!},o=${rotation}`), username, mechanism: "sha512", hash: hash512 };
      const rotated = await (via === "direct" ? fetch(`${mesh.urls.auth}/rotate`, { ...json(rotate), headers: { "content-type": "application/json", authorization: `Bearer ${token}` } }) : through(`${mesh.urls.auth}/rotate`, { ...json(rotate), headers: { "content-type": "application/json", authorization: `Bearer ${token}` } }));
      expect(await rotated.json()).toEqual({ username, mechanism: "sha512" });
      const again = (await auth("/challenge", { username })).body;
      expect(again.mechanism).toBe("sha512");
      const response512 = createHash("sha512").update(hash512 + again.nonce).digest("hex");
      expect((await auth("/login", { username, challengeId: again.challengeId, response: response512 })).status).toBe(200);
    }
  });

  it("refuses bad input to /auth/* with a JSON error", async () => {
    const bad = await fetch(`${mesh.urls.relay}/auth/login`, { method: "POST", body: "{nope" });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: "invalid_json" });
    const missing = await gateway("/auth/register", { username: "x" });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: "invalid_request" });
    const malformedKey = await gateway("/auth/login", { username: "x", password: "p", server: "http://127.0.0.1:9", serverKey: "short" });
    expect(malformedKey.status).toBe(400);
    expect(await malformedKey.json()).toMatchObject({ error: "invalid_request" });
    // The all-zero point: nothing can be encrypted to it, so nothing is sent.
    const unusableKey = await gateway("/auth/login", { username: "x", password: "p", server: "http://127.0.0.1:9", serverKey: "A".repeat(43) });
    expect(unusableKey.status).toBe(400);
    expect(await unusableKey.json()).toMatchObject({ error: "bad_server_key" });
  });
});
