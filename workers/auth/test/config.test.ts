import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import app from "../src/index.ts";
import { call, dbSnapshot, expectError, shaHex } from "./helpers.ts";

// The same Worker under other bindings: app.fetch takes the env as an argument.
const callWith = (overrides: Partial<Cloudflare.Env>, path: string, init?: RequestInit) =>
  app.fetch(new Request(`http://auth.test${path}`, init), { ...env, ...overrides });
const post = (body: unknown) => ({ method: "POST", body: JSON.stringify(body) });

describe("configuration and the service endpoints", () => {
  it("answers /health and describes itself at /", async () => {
    expect(await (await call("/health")).json()).toEqual({ ok: true });
    const root = await call("/");
    expect(root.status).toBe(200);
    expect(await root.json()).toMatchObject({
      service: "shallot-auth",
      mechanisms: ["sha256", "sha384", "sha512", "scram-sha-256"],
      defaultMechanism: "scram-sha-256",
      scramIterations: { default: 100_000, min: 4096, max: 100_000 },
    });
  });

  it("answers 503 auth_unconfigured where the HPKE key is needed and it is missing or bad", async () => {
    const sealed = { sealed: { keyId: "0".repeat(16), enc: "A".repeat(43), ciphertext: "A".repeat(40) } };
    for (const AUTH_HPKE_KEY of [undefined, "", "too-short", "!!!not base64url!!!", "A".repeat(44)]) {
      const before = await dbSnapshot();
      await expectError(await callWith({ AUTH_HPKE_KEY }, "/key"), 503, "auth_unconfigured");
      await expectError(await callWith({ AUTH_HPKE_KEY }, "/challenge", post({ username: "anyone" })), 503, "auth_unconfigured");
      await expectError(await callWith({ AUTH_HPKE_KEY }, "/register", post(sealed)), 503, "auth_unconfigured");
      expect(await dbSnapshot()).toEqual(before);
    }
    // Clear registration and health need no key.
    expect((await callWith({ AUTH_HPKE_KEY: undefined }, "/health")).status).toBe(200);
    const clear = await callWith({ AUTH_HPKE_KEY: undefined }, "/register", post({ username: "keyless", mechanism: "sha256", hash: await shaHex("sha256", "pw") }));
    expect(clear.status).toBe(201);
  });

  it("answers 503 for malformed numeric settings, and honours a short challenge TTL", async () => {
    for (const overrides of [
      { TOKEN_TTL_MS: "soon" },
      { CHALLENGE_TTL_MS: "-5" },
      { SCRAM_ITERATIONS: "200000" },
      { SCRAM_ITERATIONS: "1000" },
      { AUTH_LIMITS: "{" },
      { AUTH_LIMITS: "[]" },
      { AUTH_LIMITS: '{"unknownLimit":1}' },
      { AUTH_LIMITS: '{"powMaxBits":21}' },
      { AUTH_LIMITS: '{"powMaxBits":10,"powMinBits":12}' },
      { AUTH_LIMITS: '{"maxSessionsPerUser":0}' },
      { AUTH_LIMITS: '{"challengeLeakMs":1.5}' },
    ]) {
      await expectError(await callWith(overrides, "/"), 503, "auth_unconfigured");
    }
    const response = await callWith({ CHALLENGE_TTL_MS: "1" }, "/challenge", post({ username: "hasty", clientNonce: "ab".repeat(16) }));
    const { challengeId } = (await response.json()) as { challengeId: string };
    const row = await env.DB.prepare("SELECT created_at, expires_at FROM challenges WHERE id = ?").bind(challengeId).first<{ created_at: number; expires_at: number }>();
    expect(row!.expires_at - row!.created_at).toBe(1);
  });
});
