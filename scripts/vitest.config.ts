import { defineConfig } from "vitest/config";

// The repository's scripts (npm run origin, deploy, …): plain Node, no mesh.
export default defineConfig({
  test: {
    include: ["scripts/**/*.test.ts"],
  },
});
