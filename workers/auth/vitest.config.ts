import { generateKeyPairSync } from "node:crypto";
import { fileURLToPath } from "node:url";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// A fresh HPKE key per run: the real one is a secret and never lives in the repo.
const { privateKey, publicKey } = generateKeyPairSync("x25519");
const key = privateKey.export({ format: "jwk" }).d!;
const pub = publicKey.export({ format: "jwk" }).x!;

// Read in Node, applied inside workerd by test/apply-migrations.ts (the same files wrangler applies).
const migrations = await readD1Migrations(fileURLToPath(new URL("./migrations", import.meta.url)));

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: { bindings: { AUTH_HPKE_KEY: key, AUTH_HPKE_PUBLIC_KEY_FOR_TESTS: pub, TEST_MIGRATIONS: migrations } },
    }),
  ],
  test: { include: ["test/**/*.test.ts"], setupFiles: ["./test/apply-migrations.ts"] },
});
