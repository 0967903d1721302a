import { generateKeyPairSync } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// A fresh directory key per run: the real one is a secret and never lives in the repo.
const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const seed = privateKey.export({ format: "jwk" }).d!;
const pub = publicKey.export({ format: "jwk" }).x!;

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      // A small cap, so a test can fill the directory.
      miniflare: { bindings: { DIRECTORY_SIGNING_KEY: seed, DIRECTORY_PUBLIC_KEY_FOR_TESTS: pub, MAX_RELAYS: "12" } },
    }),
  ],
  test: { include: ["test/**/*.test.ts"] },
});
