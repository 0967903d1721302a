#!/usr/bin/env node
// A stand-in for the `wrangler` CLI in scripts/deploy.test.ts, which has no Cloudflare account and no
// internet: it answers the few commands deploy.mjs runs the way wrangler 4 does (`whoami --json`
// exits non-zero when logged out; `d1 list --json` prints the API's list; `deploy` reports its URL in
// the WRANGLER_OUTPUT_FILE_PATH file), keeps the account in FAKE_WRANGLER_STATE, and records every
// call (with the secrets file's content as it was at the call) in FAKE_WRANGLER_LOG.

import { randomUUID } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const args = process.argv.slice(2);
const option = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const statePath = process.env.FAKE_WRANGLER_STATE;
const state = JSON.parse(readFileSync(statePath, "utf8"));
const secretsFile = option("--secrets-file");
appendFileSync(
  process.env.FAKE_WRANGLER_LOG,
  `${JSON.stringify({ args, cwd: process.cwd(), ci: process.env.CI, secrets: secretsFile ? JSON.parse(readFileSync(secretsFile, "utf8")) : undefined })}\n`,
);

const [command, sub] = args;
if (command === "whoami") {
  if (!state.loggedIn) {
    console.error("You are not authenticated. Please run `wrangler login`.");
    process.exit(1);
  }
  console.log(JSON.stringify({ loggedIn: true, email: "operator@example.com" }));
} else if (command === "d1" && sub === "list") {
  console.log(JSON.stringify(state.databases, null, 2));
} else if (command === "d1" && sub === "create") {
  state.databases.push({ uuid: randomUUID(), name: args[2], version: "production" });
  writeFileSync(statePath, JSON.stringify(state));
  console.log(`✅ Successfully created DB '${args[2]}'`);
} else if (command === "d1" && sub === "migrations") {
  console.log("✅ Migrations applied");
} else if (command === "deploy") {
  const config = readFileSync(option("-c"), "utf8");
  // The Worker's name: the top level's, or that of the [env.<name>] section --env names.
  const environment = option("--env");
  const name = environment ? new RegExp(`^\\[env\\.${environment}\\]\\s*\\nname = "([^"]+)"`, "m").exec(config)[1] : /^name = "([^"]+)"/m.exec(config)[1];
  if (args.includes("--dry-run")) {
    mkdirSync(option("--outdir"), { recursive: true });
    writeFileSync(join(option("--outdir"), "index.js"), `// ${name}\n`);
  } else {
    const output = process.env.WRANGLER_OUTPUT_FILE_PATH;
    if (output) appendFileSync(output, `${JSON.stringify({ version: 1, type: "deploy", worker_name: name, targets: [`https://${name}.${state.subdomain}.workers.dev`] })}\n`);
    console.log(`Deployed ${name}\n  https://${name}.${state.subdomain}.workers.dev`);
  }
} else {
  console.error(`fake wrangler: unexpected command ${args.join(" ")}`);
  process.exit(9);
}
if (existsSync(statePath) && state.failOn && args.join(" ").includes(state.failOn)) process.exit(1);
