import { env } from "cloudflare:workers";
import { createExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { DEFAULTS, parseConfig } from "../src/env.ts";
import worker from "../src/index.ts";
import { expectError } from "./helpers.ts";

const SEED = env.DIRECTORY_SIGNING_KEY!;
const AUTHORITIES = env.DIRECTORY_AUTHORITIES!;

describe("configuration", () => {
  it("reads the defaults and the vars", () => {
    const parsed = parseConfig({ DIRECTORY_SIGNING_KEY: SEED, DIRECTORY_AUTHORITIES: AUTHORITIES });
    expect(parsed).toMatchObject({ ok: true, config: { signingSeed: SEED, ...DEFAULTS, allowPrivateRelayAddresses: false, allowedHosts: null } });
    expect(DEFAULTS).toMatchObject({ maxRelaysPerHost: 2, periodMs: 60_000 });
    const vars = { MAX_RELAYS: "50", ALLOW_PRIVATE_RELAY_ADDRESSES: "true", MAX_RELAYS_PER_HOST: "8", STABLE_AFTER_MS: "0", GUARD_AFTER_MS: "0", ALLOWED_HOSTS: "A.example, b.example:8443" };
    const custom = parseConfig({ DIRECTORY_SIGNING_KEY: SEED, DIRECTORY_AUTHORITIES: AUTHORITIES, ...vars });
    expect(custom).toMatchObject({ ok: true, config: { maxRelays: 50, allowPrivateRelayAddresses: true, maxRelaysPerHost: 8, stableAfterMs: 0, guardAfterMs: 0 } });
    expect(custom.ok && [...custom.config.allowedHosts!]).toEqual(["a.example", "b.example:8443"]);
  });

  it.each([
    { DIRECTORY_SIGNING_KEY: undefined },
    { DIRECTORY_SIGNING_KEY: "not base64url!" },
    { DIRECTORY_SIGNING_KEY: SEED.slice(0, 20) },
    { DIRECTORY_AUTHORITIES: undefined },
    { DIRECTORY_AUTHORITIES: "http://a.test" },
    { RELAY_TTL_MS: "0" },
    { RELAY_TTL_MS: "-5" },
    { RELAY_TTL_MS: "1.5" },
    { PING_INTERVAL_MS: "soon" },
    { RELAY_TTL_MS: "5000", PING_INTERVAL_MS: "5000" },
    { MAX_RELAYS: "0" },
    { MAX_RELAYS_PER_HOST: "0" },
    { CONSENSUS_PERIOD_MS: "10" },
    { STABLE_AFTER_MS: "10000", GUARD_AFTER_MS: "5000" },
  ])("refuses %o", (vars) => {
    expect(parseConfig({ DIRECTORY_SIGNING_KEY: SEED, DIRECTORY_AUTHORITIES: AUTHORITIES, ...vars })).toMatchObject({ ok: false, message: expect.any(String) });
  });

  it("answers 503 on every endpoint while the signing key is missing, or the authority list leaves it out", async () => {
    const stranger = `${"A".repeat(42)}A@https://other.test`;
    for (const vars of [{ DIRECTORY_SIGNING_KEY: undefined }, { DIRECTORY_AUTHORITIES: stranger }]) {
      for (const [method, path] of [["GET", "/consensus"], ["GET", "/key"], ["GET", "/"], ["GET", "/health"], ["POST", "/descriptors"], ["POST", "/votes"]] as const) {
        const response = await worker.fetch(new Request(`https://directory.test${path}`, { method, body: method === "POST" ? "{}" : undefined }), { ...env, ...vars }, createExecutionContext());
        await expectError(response, 503, "directory_unconfigured");
      }
    }
  });
});
