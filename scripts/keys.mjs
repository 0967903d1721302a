// `npm run keys`: makes the production secrets once, into .wrangler/shallot-secrets/ (git-ignored,
// readable by you only), and prints how to hand each to `wrangler secret put`. Secrets are never
// printed; only the public keys are, since relays and clients pin them. (Three directory
// authorities: in a network run by several operators, each makes its own key and publishes only
// the public half.)

import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./mesh.mjs";

export const SECRETS_DIR = join(ROOT, ".wrangler", "shallot-secrets");
/** The three directory authorities, as workers/directory/wrangler.toml deploys them (top level, --env second, --env third). */
export const AUTHORITY_NUMBERS = [1, 2, 3];
export const AUTHORITY_ENVS = [null, "second", "third"];

function ensure(name, make) {
  const file = join(SECRETS_DIR, name);
  if (!existsSync(file)) writeFileSync(file, make(), { mode: 0o600 });
  return readFileSync(file, "utf8");
}

export function ensureSecrets() {
  mkdirSync(SECRETS_DIR, { recursive: true, mode: 0o700 });
  // Each authority's signing key and its public half are made together, so they always match.
  for (const n of AUTHORITY_NUMBERS) {
    if (!existsSync(join(SECRETS_DIR, `AUTHORITY_${n}_SIGNING_KEY`)) || !existsSync(join(SECRETS_DIR, `AUTHORITY_${n}_PUBLIC_KEY`))) {
      const authority = generateKeyPairSync("ed25519");
      writeFileSync(join(SECRETS_DIR, `AUTHORITY_${n}_SIGNING_KEY`), authority.privateKey.export({ format: "jwk" }).d, { mode: 0o600 });
      writeFileSync(join(SECRETS_DIR, `AUTHORITY_${n}_PUBLIC_KEY`), authority.publicKey.export({ format: "jwk" }).x, { mode: 0o600 });
    }
  }
  const authKey = ensure("AUTH_HPKE_KEY", () => generateKeyPairSync("x25519").privateKey.export({ format: "jwk" }).d);
  // Its public half is pinned by relay workers and clients (AUTH_PUBLIC_KEY); derived, so the two always match.
  const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), Buffer.from(authKey.trim(), "base64url")]);
  const authPublicKey = createPublicKey(createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })).export({ format: "jwk" }).x;
  writeFileSync(join(SECRETS_DIR, "AUTH_PUBLIC_KEY"), authPublicKey, { mode: 0o600 });
  ensure("ADMIN_TOKEN", () => randomBytes(32).toString("base64url"));
  return { authorityPublicKeys: AUTHORITY_NUMBERS.map((n) => readFileSync(join(SECRETS_DIR, `AUTHORITY_${n}_PUBLIC_KEY`), "utf8").trim()), authPublicKey };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { authorityPublicKeys, authPublicKey } = ensureSecrets();
  const dir = ".wrangler/shallot-secrets";
  console.log(`Secrets are in ${dir}/ (mode 600). Hand them to Cloudflare:

  npx wrangler secret put DIRECTORY_SIGNING_KEY -c workers/directory/wrangler.toml < ${dir}/AUTHORITY_1_SIGNING_KEY
  npx wrangler secret put DIRECTORY_SIGNING_KEY -c workers/directory/wrangler.toml --env second < ${dir}/AUTHORITY_2_SIGNING_KEY
  npx wrangler secret put DIRECTORY_SIGNING_KEY -c workers/directory/wrangler.toml --env third < ${dir}/AUTHORITY_3_SIGNING_KEY
  npx wrangler secret put AUTH_HPKE_KEY -c workers/auth/wrangler.toml < ${dir}/AUTH_HPKE_KEY
  npx wrangler secret put ADMIN_TOKEN < ${dir}/ADMIN_TOKEN
  npx wrangler secret put ADMIN_TOKEN --env second < ${dir}/ADMIN_TOKEN     # only with a second relay deployment

The directory authorities' public keys (pinned by relays and clients; npm run deploy passes them on):
${authorityPublicKeys.map((key, i) => `  authority ${i + 1}: ${key}`).join("\n")}
The auth server's public key (pinned by relays as AUTH_PUBLIC_KEY and by clients: onion --server-key):
  ${authPublicKey}`);
}
