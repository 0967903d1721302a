import { generateKeyPairSync } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Authority keys made for this run only: the relays and the gateway pin their public halves.
const authorityKeys = [1, 2, 3].map(() => generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }).x!);

export default defineConfig({
  plugins: [
    cloudflareTest((ctx) => ({
      wrangler: { configPath: "../../wrangler.toml" },
      miniflare: {
        bindings: {
          ADMIN_TOKEN: "test-admin-token",
          PUBLIC_URL: "http://relay.test",
          // Stand-in authorities on the origin server (test/origin-server.ts): two take descriptors,
          // the second holds them and never answers; none serves a consensus, so the gateway reports
          // the directory unreachable.
          DIRECTORY_AUTHORITIES: ["a", "slow", "c"].map((name, i) => `${authorityKeys[i]}@${ctx.inject<string>("originUrl")}/authority/${name}`).join(","),
          ALLOW_PRIVATE_DESTINATIONS: "true",
          // Short link deadlines: a heartbeat waits this long on the slow authority.
          LINK_TIMEOUT_MS: "1000",
          ORIGIN_URL: ctx.inject<string>("originUrl"),
        },
      },
    })),
  ],
  test: { globalSetup: ["./test/origin-server.ts"], include: ["src/**/*.test.ts", "test/**/*.test.ts"] },
});
