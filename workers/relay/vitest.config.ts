import { generateKeyPairSync } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// A directory key made for this run only: the relay pins its public half.
const directoryKey = generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }).x!;

export default defineConfig({
  plugins: [
    cloudflareTest((ctx) => ({
      wrangler: { configPath: "../../wrangler.toml" },
      miniflare: {
        bindings: {
          ADMIN_TOKEN: "test-admin-token",
          PUBLIC_URL: "http://relay.test",
          // No directory runs in these tests: the origin answers 503 under /down/, so pings fail
          // quietly (and are retried) and the gateway reports the directory unreachable.
          DIRECTORY_URL: `${ctx.inject<string>("originUrl")}/down/`,
          DIRECTORY_PUBLIC_KEY: directoryKey,
          ALLOW_PRIVATE_DESTINATIONS: "true",
          ORIGIN_URL: ctx.inject<string>("originUrl"),
          TARPIT: JSON.stringify(ctx.inject("tarpit")),
          // Small limits, so the tests reach them with a handful of cells; every relay in a test is new.
          LINK_TIMEOUT_MS: "1000",
          EXIT_TIMEOUT_MS: "2000",
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
        // DIRECTORY_URL takes precedence, so the binding is never called; it only has to resolve.
        serviceBindings: { DIRECTORY: () => new Response("no directory in these tests", { status: 503 }) },
      },
    })),
  ],
  test: { globalSetup: ["./test/origin-server.ts"], include: ["src/**/*.test.ts", "test/**/*.test.ts"], exclude: ["test/production/**"] },
});
