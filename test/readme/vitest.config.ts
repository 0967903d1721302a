import { defineConfig } from "vitest/config";

// The README as a tested artifact: its shell blocks, run in order against `npm run dev` on the ports
// it names (8787–8789, 8791, 8792, 9000, 8118). Run it where those ports are free (README, "Set up, run, test").
export default defineConfig({
  test: {
    include: ["test/readme/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 130_000,
    hookTimeout: 60_000,
    // Each block by name, the skipped ones with the reason they are not run.
    reporters: ["verbose"],
  },
});
