import { generateKeyPairSync } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
// @ts-expect-error -- plain ESM script shared with the dev mesh (EXIT_POLICY=production)
import { productionEgress } from "../../scripts/egress.mjs";
import { hostileNames } from "./test/origin-server.ts";

const authorityKeys = [1, 2, 3].map(() => generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }).x!);

// The relays under the production destination policy: ALLOW_PRIVATE_* off (as wrangler.toml has
// them) and every outbound fetch through the same egress check `EXIT_POLICY=production npm run dev`
// uses. Its resolver is given names that resolve to loopback, private and link-local addresses, as
// a hostile DNS or /etc/hosts would.
export const HOSTILE_NAMES = hostileNames;

export default defineConfig({
  plugins: [
    cloudflareTest((ctx) => ({
      wrangler: { configPath: "../../wrangler.toml" },
      miniflare: {
        bindings: {
          ADMIN_TOKEN: "test-admin-token",
          PUBLIC_URL: "http://relay.test",
          DIRECTORY_AUTHORITIES: ["a", "b", "c"].map((name, i) => `${authorityKeys[i]}@${ctx.inject<string>("originUrl")}/authority/${name}`).join(","),
          ORIGIN_URL: ctx.inject<string>("originUrl"),
          TARPIT: JSON.stringify(ctx.inject("tarpit")),
          HOSTILE_NAMES: JSON.stringify(HOSTILE_NAMES),
          LINK_TIMEOUT_MS: "1000",
          EXIT_TIMEOUT_MS: "2000",
          // Streams resolve names over DoH: here the loopback origin answers for the hostile names.
          DOH_URL: `${ctx.inject<string>("originUrl")}/dns-query`,
          TCP_PORTS: JSON.stringify(ctx.inject("tcpPorts")),
        },
        outboundService: productionEgress({ hosts: HOSTILE_NAMES }),
      },
    })),
  ],
  test: { globalSetup: ["./test/origin-server.ts"], include: ["test/production/**/*.test.ts"] },
});
