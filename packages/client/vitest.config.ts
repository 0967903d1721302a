import { defineConfig } from "vitest/config";

// The CLI's own logic (arguments, headers, bodies, errors) runs in Node 22; the network parts are
// covered end to end in test/e2e/cli.test.ts and test/e2e/proxy.test.ts.
export default defineConfig({ test: { include: ["src/**/*.test.ts"] } });
