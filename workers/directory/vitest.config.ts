import { generateKeyPairSync } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
// @ts-expect-error -- plain ESM script shared with the dev mesh
import { productionEgress } from "../../scripts/egress.mjs";

// A fresh authority key per run: the real one is a secret and never lives in the repo.
const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const seed = privateKey.export({ format: "jwk" }).d!;
const pub = publicKey.export({ format: "jwk" }).x!;

export default defineConfig({
  plugins: [
    cloudflareTest((ctx) => ({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          DIRECTORY_SIGNING_KEY: seed,
          DIRECTORY_PUBLIC_KEY_FOR_TESTS: pub,
          // A network of one authority: its own vote is the majority. Voting among several runs in
          // the end-to-end tests, with real authorities.
          DIRECTORY_AUTHORITIES: `${pub}@https://directory.test`,
          // A small cap, so a test can fill the table; short rounds, tests and uptimes, so tests are quick.
          MAX_RELAYS: "12",
          CONSENSUS_PERIOD_MS: "1000",
          RETEST_MS: "2000",
          TEST_TIMEOUT_MS: "1000",
          STABLE_AFTER_MS: "60000",
          GUARD_AFTER_MS: "120000",
          // The relay hosts below live on loopback.
          ALLOW_PRIVATE_RELAY_ADDRESSES: "true",
          RELAY_HOSTS: JSON.stringify(ctx.inject("relayHosts")),
        },
        // Outbound fetches leave through Node, refusing nothing: the Sybil tests' made-up relay
        // addresses fail to resolve offline, which miniflare's own outbound reports as uncaught
        // internal errors besides failing the fetch.
        outboundService: productionEgress({ policy: false }),
      },
    })),
  ],
  test: { globalSetup: ["./test/relay-hosts.ts"], include: ["test/**/*.test.ts"], testTimeout: 30_000 },
});
