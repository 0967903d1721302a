import { generateKeyPairSync } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
// @ts-expect-error -- plain ESM script shared with the dev mesh
import { productionEgress } from "../../scripts/egress.mjs";

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
          // Stand-in authorities on the origin server (test/origin-server.ts): "a" and "c" take
          // descriptors (answering as a test sets them), "slow" holds them and never answers; none
          // serves a consensus, so the gateway reports the directory unreachable.
          DIRECTORY_AUTHORITIES: ["a", "slow", "c"].map((name, i) => `${authorityKeys[i]}@${ctx.inject<string>("originUrl")}/authority/${name}`).join(","),
          ALLOW_PRIVATE_DESTINATIONS: "true",
          ORIGIN_URL: ctx.inject<string>("originUrl"),
          TARPIT: JSON.stringify(ctx.inject("tarpit")),
          // Short link deadlines (a heartbeat waits this long on the slow authority) and small limits,
          // so the tests reach them with a handful of cells; every relay in a test is new.
          LINK_TIMEOUT_MS: "1000",
          EXIT_TIMEOUT_MS: "2000",
          BODY_TIMEOUT_MS: "1500",
          MAX_CIRCUITS: "120",
          CREATE_BURST: "20",
          CREATE_RATE: "2",
          RELAY_CREATE_BURST: "50",
          RELAY_CREATE_RATE: "5",
          MAX_INFLIGHT_CELLS: "12",
          MAX_INFLIGHT_BYTES: String(12 * 1024 * 1024),
          // Streams: the test TCP servers listen on ephemeral ports; 65500 and up stand for a refused port.
          EXIT_PORTS: "1-65499",
          STREAM_HOLD_MS: "300",
          TCP_PORTS: JSON.stringify(ctx.inject("tcpPorts")),
          FLOOD_URL: ctx.inject<string>("floodUrl"),
        },
        // Outbound fetches from Node, refusing nothing (the exit's own policy decides): miniflare's
        // default outbound prints an uncaught "Network connection lost" for an origin that refuses.
        outboundService: productionEgress({ policy: false }),
      },
    })),
  ],
  test: {
    globalSetup: ["./test/origin-server.ts"],
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    exclude: ["test/production/**"],
    // The stand-in authorities hold or refuse pings by design: the heartbeat's warning is expected.
    onConsoleLog: (log) => !log.includes("an authority did not take the ping"),
  },
});
