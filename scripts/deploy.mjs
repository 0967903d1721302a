// `npm run deploy`: deploys the workers in dependency order — the three directory authorities (relays
// publish to them; each pins all three), the auth server (its D1 migrated first), then the relay
// worker(s), which pin the authorities. `--dry-run` bundles each for deployment into dist/ without
// uploading (CI runs this).
//
// Environment for a real deploy (README, "Deploy"):
//   SHALLOT_RELAY_URL   public base URL of the relay worker, e.g. https://shallot-relay.<you>.workers.dev
//   SHALLOT_AUTH_URL    public base URL of the auth server (the gateway's default auth server)
//   SHALLOT_DIRECTORY_URLS  the three authorities' public base URLs, comma-separated, in the order
//                       shallot-directory, shallot-directory-second, shallot-directory-third
//   SHALLOT_SECOND_URL  optional: base URL of a second relay deployment ([env.second]) to deploy too

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./mesh.mjs";
import { AUTHORITY_ENVS, AUTHORITY_NUMBERS, SECRETS_DIR } from "./keys.mjs";

const dryRun = process.argv.includes("--dry-run");
const wrangler = join(ROOT, "node_modules", ".bin", "wrangler");

function step(title, args) {
  console.log(`\n▶ ${title}`);
  const result = spawnSync(wrangler, args, { cwd: ROOT, stdio: "inherit", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } });
  if (result.status !== 0) {
    console.error(`deploy: "${title}" failed; nothing after it was deployed.`);
    process.exit(result.status ?? 1);
  }
}

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`deploy: set ${name} (see README, "Deploy").`);
    process.exit(2);
  }
  return value.replace(/\/+$/, "");
}

const deploy = (name, config, extra = []) => [
  "deploy",
  "-c",
  config,
  ...(dryRun ? ["--dry-run", "--outdir", join("dist", name)] : []),
  ...extra,
];

let relayVars = [];
let secondVars = [];
let authorityVars = [];
if (!dryRun) {
  const keys = AUTHORITY_NUMBERS.map((n) => {
    const file = join(SECRETS_DIR, `AUTHORITY_${n}_PUBLIC_KEY`);
    return (process.env[`SHALLOT_AUTHORITY_${n}_PUBLIC_KEY`] ?? (existsSync(file) ? readFileSync(file, "utf8") : "")).trim();
  });
  if (keys.some((key) => !key)) {
    console.error("deploy: the authorities' public keys are missing; run `npm run keys` first (or set SHALLOT_AUTHORITY_<n>_PUBLIC_KEY).");
    process.exit(2);
  }
  const urls = required("SHALLOT_DIRECTORY_URLS").split(",").map((url) => url.trim().replace(/\/+$/, ""));
  if (urls.length !== keys.length) {
    console.error(`deploy: SHALLOT_DIRECTORY_URLS must name ${keys.length} authorities, comma-separated.`);
    process.exit(2);
  }
  // Every authority and every relay worker pins the same list: KEY@URL, comma-separated.
  const authorities = keys.map((key, i) => `${key}@${urls[i]}`).join(",");
  authorityVars = ["--var", `DIRECTORY_AUTHORITIES:${authorities}`];
  const authKeyFile = join(SECRETS_DIR, "AUTH_PUBLIC_KEY");
  const authKey = process.env.SHALLOT_AUTH_PUBLIC_KEY ?? (existsSync(authKeyFile) ? readFileSync(authKeyFile, "utf8") : "");
  if (!authKey) {
    console.error("deploy: no auth server public key; run `npm run keys` first (or set SHALLOT_AUTH_PUBLIC_KEY).");
    process.exit(2);
  }
  const common = ["--var", `DIRECTORY_AUTHORITIES:${authorities}`, "--var", `AUTH_URL:${required("SHALLOT_AUTH_URL")}`, "--var", `AUTH_PUBLIC_KEY:${authKey.trim()}`];
  relayVars = [...common, "--var", `PUBLIC_URL:${required("SHALLOT_RELAY_URL")}`];
  if (process.env.SHALLOT_SECOND_URL) secondVars = [...common, "--var", `PUBLIC_URL:${required("SHALLOT_SECOND_URL")}`];
}

for (const [i, env] of AUTHORITY_ENVS.entries()) {
  step(`directory authority ${i + 1}`, deploy(`directory-${i + 1}`, "workers/directory/wrangler.toml", [...(env ? ["--env", env] : []), ...authorityVars]));
}
if (!dryRun) step("auth database migrations", ["d1", "migrations", "apply", "DB", "--remote", "-c", "workers/auth/wrangler.toml"]);
step("auth server", deploy("auth", "workers/auth/wrangler.toml"));
step("relay worker", deploy("relay", "wrangler.toml", relayVars));
if (dryRun || secondVars.length > 0) step("second relay deployment", deploy("relay-second", "wrangler.toml", ["--env", "second", ...secondVars]));
console.log(dryRun ? "\ndeploy: every worker bundled into dist/ (dry run, nothing uploaded)." : "\ndeploy: done. Add relays with POST /relays (README, \"Deploy\").");
