import { env } from "cloudflare:workers";
import { createExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../src/env.ts";
import worker from "../src/index.ts";
import { expectError } from "./helpers.ts";

const SEED = env.DIRECTORY_SIGNING_KEY!;

describe("configuration", () => {
  it("reads the defaults and the vars", () => {
    expect(parseConfig({ DIRECTORY_SIGNING_KEY: SEED })).toEqual({
      ok: true,
      config: { signingSeed: SEED, relayTtlMs: 30_000, pingIntervalMs: 10_000, maxRelays: 1000, allowPrivateRelayAddresses: false },
    });
    expect(parseConfig({ DIRECTORY_SIGNING_KEY: SEED, MAX_RELAYS: "50", ALLOW_PRIVATE_RELAY_ADDRESSES: "true" })).toMatchObject({ ok: true, config: { maxRelays: 50, allowPrivateRelayAddresses: true } });
    expect(parseConfig({ DIRECTORY_SIGNING_KEY: SEED, RELAY_TTL_MS: "5000", PING_INTERVAL_MS: "1000" })).toMatchObject({ ok: true, config: { relayTtlMs: 5000, pingIntervalMs: 1000 } });
  });

  it.each([
    { DIRECTORY_SIGNING_KEY: undefined },
    { DIRECTORY_SIGNING_KEY: "not base64url!" },
    { DIRECTORY_SIGNING_KEY: SEED.slice(0, 20) },
    { RELAY_TTL_MS: "0" },
    { RELAY_TTL_MS: "-5" },
    { RELAY_TTL_MS: "1.5" },
    { PING_INTERVAL_MS: "soon" },
    { RELAY_TTL_MS: "5000", PING_INTERVAL_MS: "5000" },
    { MAX_RELAYS: "0" },
  ])("refuses %o", (vars) => {
    expect(parseConfig({ DIRECTORY_SIGNING_KEY: SEED, ...vars })).toMatchObject({ ok: false, message: expect.any(String) });
  });

  it("answers 503 on every endpoint while the signing key is missing", async () => {
    const unconfigured = { ...env, DIRECTORY_SIGNING_KEY: undefined };
    for (const [method, path] of [["GET", "/consensus"], ["GET", "/key"], ["GET", "/"], ["GET", "/health"], ["POST", "/descriptors"]] as const) {
      const response = await worker.fetch(new Request(`https://directory.test${path}`, { method, body: method === "POST" ? "{}" : undefined }), unconfigured, createExecutionContext());
      await expectError(response, 503, "directory_unconfigured");
    }
  });
});
