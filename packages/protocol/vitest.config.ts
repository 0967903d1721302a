import { defineConfig } from "vitest/config";

// The protocol is pure and runs anywhere WebCrypto does; its tests run in Node 22.
export default defineConfig({ test: { include: ["src/**/*.test.ts", "test-vectors/**/*.test.ts"] } });
