// `npm run deploy`: from an empty Cloudflare account to a running network, creating what is missing
// and saying what it does at each step: the secrets (scripts/keys.mjs: three authority keys, the auth
// server's key, the admin token), the auth server's D1 database (its id written into
// workers/auth/wrangler.toml, where wrangler reads it), its migrations, then the auth server, the three
// directory authorities (workers/directory: the top level, [env.second], [env.third]; each pins all
// three in DIRECTORY_AUTHORITIES) and the relay worker (pinning the authorities and the auth server's
// key), each uploaded with its secrets (`wrangler deploy --secrets-file`: nothing to type), and at last
// relays until the consensus lists them. Run it again at any time: what exists is kept, the Workers
// are deployed anew. `npm run build` (--dry-run) bundles every Worker as it would be uploaded into
// dist/ (CI runs it).
//
// Environment: RELAYS (6; 0 adds none), SHALLOT_RELAY_URL / SHALLOT_AUTH_URL (public base URLs) and
// SHALLOT_DIRECTORY_URLS (the three authorities', comma-separated, in the order shallot-directory,
// shallot-directory-second, shallot-directory-third), when not the workers.dev ones; MAX_RELAYS_PER_HOST
// (given to every authority) and FAMILY_RULE (given to the relay workers), for a test network of one
// relay deployment; SHALLOT_WRANGLER (the wrangler command, for tests). `--second` also deploys the
// second relay deployment (wrangler.toml [env.second]; SHALLOT_SECOND_URL). The URLs of the last
// deploy are kept in .wrangler/shallot-deploy.json.

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { AUTHORITY_ENVS, AUTHORITY_NUMBERS, ensureSecrets } from "./keys.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const AUTH_CONFIG = "workers/auth/wrangler.toml";
const DIRECTORY_CONFIG = "workers/directory/wrangler.toml";
const RELAY_CONFIG = "wrangler.toml";
/** A config's top level, named: the relay's and the directory's have environments too, and wrangler warns when none is named. */
const TOP_LEVEL = ["--env", ""];
/** The three authorities' Workers, as workers/directory/wrangler.toml names them (top level, second, third). */
const AUTHORITY_WORKERS = AUTHORITY_ENVS.map((env) => (env ? `shallot-directory-${env}` : "shallot-directory"));
/** K when MAX_RELAYS_PER_HOST is not given: the authorities' default (workers/directory/wrangler.toml). */
const DEFAULT_RELAYS_PER_HOST = 2;

export class DeployError extends Error {
  name = "DeployError";
}

/**
 * The `[[d1_databases]]` entry of `binding` in a wrangler.toml: its database_name and database_id,
 * and where its lines are. Only the flat `key = "value"` form wrangler's own snippets use.
 */
export function findD1(toml, binding) {
  const lines = toml.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== "[[d1_databases]]") continue;
    const entry = { start: i, end: lines.length, fields: {} };
    for (let j = i + 1; j < lines.length; j++) {
      if (/^\s*\[/.test(lines[j])) {
        entry.end = j;
        break;
      }
      const field = /^\s*([a-z_]+)\s*=\s*"([^"]*)"\s*(?:#.*)?$/.exec(lines[j]);
      if (field) entry.fields[field[1]] = { value: field[2], line: j };
    }
    if (entry.fields.binding?.value === binding) return entry;
  }
  return null;
}

/** `toml` with the database_id of `binding`'s D1 entry set to `id` (added after database_name when absent). */
export function withDatabaseId(toml, binding, id) {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) throw new DeployError(`"${id}" is not a D1 database id.`);
  const entry = findD1(toml, binding);
  if (!entry) throw new DeployError(`no [[d1_databases]] entry with binding = "${binding}"`);
  const lines = toml.split("\n");
  const line = `database_id = "${id}"`;
  if (entry.fields.database_id) lines[entry.fields.database_id.line] = line;
  else lines.splice((entry.fields.database_name?.line ?? entry.start) + 1, 0, line);
  return lines.join("\n");
}

/** The base URL of `worker` next to a known workers.dev URL of another Worker of the same account. */
export function siblingUrl(knownUrl, worker) {
  const match = /^https:\/\/[^./]+\.([^/]+\.workers\.dev)\/?$/.exec(knownUrl);
  return match ? `https://${worker}.${match[1]}` : null;
}

const trimUrl = (url) => url.replace(/\/+$/, "");

/**
 * Runs the deploy (or, with dryRun, the build). `root` holds the configs; `wrangler` is the command;
 * `log` hears each step; the relays are waited for `waitMs`, polled every `pollMs`. Resolves with the
 * deployed URLs (nothing for a dry run).
 */
export async function deploy({ root = ROOT, env = process.env, dryRun = false, second = false, log = console.log, fetchImpl = fetch, showWrangler = true, waitMs = 600_000, pollMs = 5_000 } = {}) {
  const wrangler = env.SHALLOT_WRANGLER ?? join(root, "node_modules", ".bin", "wrangler");
  const wranglerEnv = { ...env, WRANGLER_SEND_METRICS: "false" };
  let stepNo = 0;
  const step = (title) => log(`\n▶ ${++stepNo}. ${title}`);
  const note = (text) => log(`  ${text}`);

  /** Runs wrangler; its output goes to the terminal (when `showWrangler`), or is returned when `capture`. */
  const run = (args, { capture = false, extraEnv = {} } = {}) =>
    new Promise((resolvePromise, reject) => {
      note(`$ wrangler ${args.map((a) => (/^[\w@./:=,-]+$/.test(a) ? a : JSON.stringify(a))).join(" ")}`);
      const shown = showWrangler && !capture ? "inherit" : "pipe";
      const child = spawn(wrangler, args, { cwd: root, env: { ...wranglerEnv, ...extraEnv }, stdio: [showWrangler ? "inherit" : "ignore", shown, shown] });
      let out = "";
      let err = "";
      child.stdout?.on("data", (chunk) => (out += chunk));
      child.stderr?.on("data", (chunk) => (err += chunk));
      child.once("error", (error) => reject(new DeployError(`cannot run wrangler (${error.message})`)));
      child.once("exit", (code) => (code === 0 ? resolvePromise(out) : reject(new DeployError(`\`wrangler ${args.slice(0, 3).join(" ")}\` failed (exit ${code})${err ? `:\n${err.trim()}` : ""}`))));
    });

  if (dryRun) {
    // Each Worker bundled exactly as it would be uploaded, into dist/<name> at the top of the repository.
    const bundles = [
      ...AUTHORITY_ENVS.map((authorityEnv, i) => [`directory-${i + 1}`, DIRECTORY_CONFIG, authorityEnv ? ["--env", authorityEnv] : TOP_LEVEL]),
      ["auth", AUTH_CONFIG, []],
      ["relay", RELAY_CONFIG, TOP_LEVEL],
      ["relay-second", RELAY_CONFIG, ["--env", "second"]],
    ];
    for (const [name, config, extra] of bundles) {
      step(`${name}: bundle into dist/${name}/ (wrangler deploy --dry-run; nothing is uploaded)`);
      await run(["deploy", "-c", config, ...extra, "--dry-run", "--outdir", join(root, "dist", name)]);
    }
    log("\nbuild: every Worker bundled into dist/ as `npm run deploy` would upload it.");
    return {};
  }

  // What the environment sets is checked before anything runs.
  if (env.MAX_RELAYS_PER_HOST !== undefined && !/^[1-9]\d{0,5}$/.test(env.MAX_RELAYS_PER_HOST)) throw new DeployError("MAX_RELAYS_PER_HOST must be a whole number of at least 1.");
  if (env.FAMILY_RULE !== undefined && env.FAMILY_RULE !== "true" && env.FAMILY_RULE !== "false") throw new DeployError('FAMILY_RULE must be "true" or "false".');
  const wanted = Number(env.RELAYS ?? 6);
  if (!Number.isInteger(wanted) || wanted < 0) throw new DeployError("RELAYS must be a whole number (0 adds none).");
  const givenDirectoryUrls = env.SHALLOT_DIRECTORY_URLS?.split(",").map((url) => trimUrl(url.trim()));
  if (givenDirectoryUrls && (givenDirectoryUrls.length !== AUTHORITY_NUMBERS.length || givenDirectoryUrls.some((url) => !/^https?:\/\/[^\s,@]+$/.test(url)))) {
    throw new DeployError(`SHALLOT_DIRECTORY_URLS must name the ${AUTHORITY_NUMBERS.length} authorities' base URLs, comma-separated.`);
  }

  step("Cloudflare account");
  try {
    const who = JSON.parse(await run(["whoami", "--json"], { capture: true }));
    note(`logged in${who?.email ? ` as ${who.email}` : ""}`);
  } catch {
    throw new DeployError("wrangler is not logged in to a Cloudflare account: run `npx wrangler login` first.");
  }

  step("secrets (.wrangler/shallot-secrets/, readable by you only)");
  const secretsDir = join(root, ".wrangler", "shallot-secrets");
  const keys = ensureSecrets(secretsDir);
  note(keys.made ? "made the three authorities' signing keys, the auth server's key and the admin token" : "kept the existing ones");
  const secret = (name) => readFileSync(join(secretsDir, name), "utf8").trim();

  const authConfigPath = join(root, AUTH_CONFIG);
  const d1 = findD1(readFileSync(authConfigPath, "utf8"), "DB");
  if (!d1?.fields.database_name) throw new DeployError(`${AUTH_CONFIG} has no [[d1_databases]] entry for the DB binding with a database_name.`);
  const databaseName = d1.fields.database_name.value;
  step(`D1 database "${databaseName}"`);
  const listDatabases = async () => {
    const listed = JSON.parse(await run(["d1", "list", "--json"], { capture: true }));
    if (!Array.isArray(listed)) throw new DeployError("`wrangler d1 list --json` did not answer a list.");
    return listed.find((db) => db?.name === databaseName);
  };
  let database = await listDatabases();
  if (database) note(`exists: ${database.uuid}`);
  else {
    await run(["d1", "create", databaseName]);
    database = await listDatabases();
    if (!database) throw new DeployError(`"${databaseName}" was created but \`wrangler d1 list\` does not show it.`);
    note(`created: ${database.uuid}`);
  }
  const authToml = readFileSync(authConfigPath, "utf8");
  if (d1.fields.database_id?.value === database.uuid) note(`${AUTH_CONFIG} already names it`);
  else {
    writeFileSync(authConfigPath, withDatabaseId(authToml, "DB", database.uuid));
    note(`wrote database_id = "${database.uuid}" into ${AUTH_CONFIG} (commit it, or keep it local: deploy writes it again)`);
  }

  step("auth database migrations");
  // CI=true: wrangler asks no confirmation. Applied migrations are skipped, so this runs every time.
  await run(["d1", "migrations", "apply", "DB", "--remote", "-c", AUTH_CONFIG], { extraEnv: { CI: "true" } });

  // Secrets travel with the upload (a JSON file, mode 600, removed at once): a new Worker gets them
  // from its first version, and no prompt asks for them.
  const outputDir = join(root, ".wrangler", "shallot-deploy");
  mkdirSync(outputDir, { recursive: true, mode: 0o700 });
  /** `wrangler deploy` with its secrets; resolves with the URL wrangler reports (its output file). */
  const deployWorker = async (config, secrets, extra = []) => {
    const secretsFile = join(outputDir, "secrets.json");
    const outputFile = join(outputDir, "wrangler-output.jsonl");
    rmSync(outputFile, { force: true });
    writeFileSync(secretsFile, JSON.stringify(secrets), { mode: 0o600 });
    try {
      await run(["deploy", "-c", config, ...extra, "--secrets-file", secretsFile], { extraEnv: { WRANGLER_OUTPUT_FILE_PATH: outputFile } });
    } finally {
      rmSync(secretsFile, { force: true });
    }
    const entries = existsSync(outputFile) ? readFileSync(outputFile, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line)) : [];
    const targets = entries.filter((entry) => entry.type === "deploy").flatMap((entry) => entry.targets ?? []);
    return targets.find((url) => /\.workers\.dev\/?$/.test(url)) ?? targets[0];
  };
  /** The URL to use: the environment's, else the one wrangler reported, else the workers.dev sibling. */
  const urlOf = (variable, reported, worker, known) => {
    const url = env[variable] ?? reported ?? (known && siblingUrl(known, worker));
    if (!url) throw new DeployError(`cannot tell the public URL of ${worker}: set ${variable}.`);
    return trimUrl(url);
  };

  step("auth server");
  const reportedAuth = await deployWorker(AUTH_CONFIG, { AUTH_HPKE_KEY: secret("AUTH_HPKE_KEY") });
  const authUrl = urlOf("SHALLOT_AUTH_URL", reportedAuth, "shallot-auth");
  note(`at ${authUrl}`);
  /** A workers.dev URL of this account: the other Workers' URLs are its siblings. */
  const known = reportedAuth ?? authUrl;

  // Every authority pins all three, itself included, so their URLs come before the first of them is
  // deployed: the environment's, or the workers.dev siblings of the auth server.
  const directoryUrls = givenDirectoryUrls ?? AUTHORITY_WORKERS.map((worker) => urlOf("SHALLOT_DIRECTORY_URLS", undefined, worker, known));
  const authorities = keys.authorityPublicKeys.map((key, i) => `${key}@${directoryUrls[i]}`).join(",");
  const authorityVars = ["--var", `DIRECTORY_AUTHORITIES:${authorities}`, ...(env.MAX_RELAYS_PER_HOST ? ["--var", `MAX_RELAYS_PER_HOST:${env.MAX_RELAYS_PER_HOST}`] : [])];
  for (const [i, authorityEnv] of AUTHORITY_ENVS.entries()) {
    step(`directory authority ${i + 1} (${AUTHORITY_WORKERS[i]})`);
    const reported = await deployWorker(DIRECTORY_CONFIG, { DIRECTORY_SIGNING_KEY: secret(`AUTHORITY_${i + 1}_SIGNING_KEY`) }, [...(authorityEnv ? ["--env", authorityEnv] : TOP_LEVEL), ...authorityVars]);
    if (reported && trimUrl(reported) !== directoryUrls[i] && !env.SHALLOT_DIRECTORY_URLS) note(`wrangler reports ${reported}; the network pins ${directoryUrls[i]} (set SHALLOT_DIRECTORY_URLS if that is wrong)`);
    note(`at ${directoryUrls[i]}`);
  }

  // The relay worker's own URL is part of its configuration (PUBLIC_URL: the address in its relays'
  // descriptors), so it comes before its first deploy: the environment's, or the workers.dev sibling.
  const relayVars = (publicUrl) => [
    "--var", `PUBLIC_URL:${publicUrl}`,
    "--var", `DIRECTORY_AUTHORITIES:${authorities}`,
    "--var", `AUTH_URL:${authUrl}`,
    "--var", `AUTH_PUBLIC_KEY:${keys.authPublicKey}`,
    ...(env.FAMILY_RULE ? ["--var", `FAMILY_RULE:${env.FAMILY_RULE}`] : []),
  ];
  const relayUrl = urlOf("SHALLOT_RELAY_URL", undefined, "shallot-relay", known);
  step("relay worker");
  const reportedRelay = await deployWorker(RELAY_CONFIG, { ADMIN_TOKEN: secret("ADMIN_TOKEN") }, [...TOP_LEVEL, ...relayVars(relayUrl)]);
  if (reportedRelay && trimUrl(reportedRelay) !== relayUrl && !env.SHALLOT_RELAY_URL) note(`wrangler reports ${reportedRelay}; the relays publish ${relayUrl} (set SHALLOT_RELAY_URL if that is wrong)`);
  note(`at ${relayUrl}`);

  const urls = { directories: directoryUrls, auth: authUrl, relay: relayUrl };
  if (second) {
    const secondUrl = urlOf("SHALLOT_SECOND_URL", undefined, "shallot-relay-second", known);
    step("second relay deployment");
    await deployWorker(RELAY_CONFIG, { ADMIN_TOKEN: secret("ADMIN_TOKEN") }, ["--env", "second", ...relayVars(secondUrl)]);
    note(`at ${secondUrl}`);
    urls.second = secondUrl;
  }
  writeFileSync(join(root, ".wrangler", "shallot-deploy.json"), `${JSON.stringify({ ...urls, databaseId: database.uuid }, null, 2)}\n`);

  if (wanted > 0) {
    // The authorities list at most K relays of one deployment host: more would wait unlisted.
    const perHost = Number(env.MAX_RELAYS_PER_HOST ?? DEFAULT_RELAYS_PER_HOST);
    const target = Math.min(wanted, perHost);
    step(`relays: ${target} of ${relayUrl} in the consensus${target < wanted ? ` (the authorities list at most ${perHost} of one deployment; RELAYS asks ${wanted})` : ""}`);
    await addRelays({ urls, target, adminToken: secret("ADMIN_TOKEN"), fetchImpl, note, waitMs, pollMs });
  }
  log(`\ndeploy: done.
  gateway and browser page  ${relayUrl}/
  authorities               ${directoryUrls.map((url) => `${url}/consensus`).join("\n                            ")}
  auth server               ${authUrl}
  (kept in .wrangler/shallot-deploy.json)`);
  return urls;
}

/** How many relays of the deployment at `relayUrl` the consensus lists: from the first authority that answers. */
async function listedRelays({ urls, fetchImpl }) {
  for (const directory of urls.directories) {
    try {
      const response = await fetchImpl(`${directory}/consensus`, { signal: AbortSignal.timeout(10_000) });
      if (!response.ok) continue;
      const consensus = await response.json();
      return JSON.parse(consensus.document).relays.filter((relay) => typeof relay?.address === "string" && relay.address.startsWith(`${urls.relay}/relays/`)).length;
    } catch {}
  }
  return null;
}

/**
 * Adds the relays the consensus lacks, once, then waits for the authorities to list them: each is
 * tested by every authority and voted for, so it is listed a round or two later (a minute each in
 * production). New workers.dev names may also need a few seconds to resolve.
 */
async function addRelays({ urls, target, adminToken, fetchImpl, note, waitMs, pollMs }) {
  const deadline = Date.now() + waitMs;
  const later = `the Workers are deployed: see an authority's status page (${urls.directories[0]}/), or add relays later with
  curl -X POST -H "authorization: Bearer $(cat .wrangler/shallot-secrets/ADMIN_TOKEN)" ${urls.relay}/relays`;
  let listed = await listedRelays({ urls, fetchImpl });
  let missing = target - (listed ?? 0);
  while (missing > 0) {
    try {
      const response = await fetchImpl(`${urls.relay}/relays`, { method: "POST", headers: { authorization: `Bearer ${adminToken}` }, signal: AbortSignal.timeout(10_000) });
      if (response.status !== 201) throw new Error(`POST /relays answered ${response.status}`);
      note(`added relay ${(await response.json()).id.slice(0, 16)}…`);
      missing--;
    } catch (error) {
      if (Date.now() > deadline) throw new DeployError(`could not add relays (${error.message}); ${later}`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
  note("waiting for the authorities to test them and list them (a round or two)");
  for (;;) {
    listed = await listedRelays({ urls, fetchImpl });
    if (listed !== null && listed >= target) {
      note(`the consensus lists ${listed}`);
      return;
    }
    if (Date.now() > deadline) throw new DeployError(`the consensus lists ${listed ?? "none"} of the ${target} relays after ${Math.round(waitMs / 1000)} s; ${later}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dryRun = process.argv.includes("--dry-run");
  deploy({ dryRun, second: process.argv.includes("--second") }).catch((error) => {
    console.error(`\n${dryRun ? "build" : "deploy"}: ${error instanceof DeployError ? error.message : error.stack}`);
    process.exit(1);
  });
}
