import { defineConfig } from "vitest/config";

// End to end: the real mesh (three `wrangler dev` processes) and a real origin on loopback.
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.test.ts"],
    globalSetup: ["test/e2e/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
