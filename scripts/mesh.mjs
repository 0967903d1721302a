// Starts the local mesh: three directory authorities, the auth server and the relay worker, each a
// `wrangler dev` (workerd via miniflare) on its own port, then adds relays until a consensus signed
// by a majority of the authorities lists them.
// Used by `npm run dev`, the end-to-end tests and the benchmark.

import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startResolver } from "./egress.mjs";
import { spawnSupervised } from "./supervise.mjs";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Documented dev-only admin token (README). Production uses `wrangler secret put ADMIN_TOKEN`. */
export const DEV_ADMIN_TOKEN = "shallot-dev-admin-token";

const b64url = (buffer) => Buffer.from(buffer).toString("base64url");

/** A dev key made once per checkout and kept under .wrangler (git-ignored): never in the repo. */
function devKey(stateDir, name, type) {
  const file = join(stateDir, `${name}.json`);
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8"));
  const { privateKey, publicKey } = generateKeyPairSync(type);
  const key = { seed: privateKey.export({ format: "jwk" }).d, publicKey: publicKey.export({ format: "jwk" }).x };
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(file, JSON.stringify(key), { mode: 0o600 });
  return key;
}

/** The dev authorities' Ed25519 signing keys (seed and public key, base64url), one per authority. */
export const devAuthorityKey = (stateDir, n) => devKey(stateDir, `authority-${n}-key`, "ed25519");
/** The auth server's X25519 HPKE key (private scalar and public key, base64url). */
export const devAuthKey = (stateDir) => devKey(stateDir, "auth-hpke-key", "x25519");

function run(command, args, env) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    for (const stream of [child.stdout, child.stderr]) stream.on("data", (chunk) => (output += chunk));
    child.once("exit", (code) => (code === 0 ? resolvePromise(output) : reject(new Error(`${args.slice(0, 4).join(" ")} failed:\n${output}`))));
  });
}

function envFile(path, vars) {
  writeFileSync(path, Object.entries(vars).map(([k, v]) => `${k}=${v}`).join("\n") + "\n", { mode: 0o600 });
  return path;
}

/** Polls `url` until it answers 2xx. Each try has its own timeout: a port held by something that
 * accepts and never answers must not hang the start. */
async function waitFor(url, timeoutMs, signal) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !signal.aborted) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return response;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(signal.aborted ? "the start was given up" : `${url} did not answer within ${timeoutMs} ms`);
}

/** Thrown when a worker's process ends: its message names the cause; `tail` is its last output. */
export class WorkerExited extends Error {
  constructor(exit) {
    super(exit.cause);
    this.name = "WorkerExited";
    /** { name, code, signal, port, cause, tail } as supervise.mjs reports it. */
    this.exit = exit;
  }
}

/** The dev mesh runs three directory authorities. */
export const AUTHORITIES = 3;
/** Each authority's name: its log prefix and its state directory. */
export const AUTHORITY_NAMES = Array.from({ length: AUTHORITIES }, (_, i) => `authority-${i + 1}`);

/**
 * Every start is a clean slate — relays, the authorities, and the auth server's accounts too, so the
 * README's examples run again as written — unless `keepAccounts` (KEEP_ACCOUNTS=1). The dev keys stay.
 */
export function clearState(stateDir, { keepAccounts = false } = {}) {
  for (const dir of ["relay", "second", ...AUTHORITY_NAMES, ...(keepAccounts ? [] : ["auth"])]) rmSync(join(stateDir, "state", dir), { recursive: true, force: true });
}

/**
 * Starts the mesh and resolves once `relays` relays are in a consensus signed by a majority of the
 * authorities. Options: ports { relay, directories: [3 ports], auth, second }, relays, secondRelays,
 * stateDir, log (fn), inspectorBase, extraRelayVars, extraAuthorityVars, relayTtlMs, pingIntervalMs,
 * exitPolicy ("dev" | "production", else EXIT_POLICY), keepAccounts (else KEEP_ACCOUNTS=1: the auth
 * server's accounts survive the start), egressHosts (resolver entries for the production egress
 * check, for tests), watch (true: each worker reloads when its sources change, as `npm run dev`
 * wants), signal (an AbortSignal: stops the start).
 * A worker process that ends during the start rejects it with a WorkerExited naming the cause; after
 * the start, `exited` resolves with the first one to end on its own ({ name, code, signal, port, cause, tail }).
 */
export async function startMesh(options = {}) {
  const ports = { relay: 8787, directories: [8788, 8791, 8792], auth: 8789, second: 8790, ...options.ports };
  const relays = options.relays ?? 6;
  const relayTtlMs = String(options.relayTtlMs ?? process.env.RELAY_TTL_MS ?? 30_000);
  const pingIntervalMs = String(options.pingIntervalMs ?? process.env.PING_INTERVAL_MS ?? 10_000);
  /** "dev" (exits may reach local origins) or "production" (they may not, by address or by name). */
  const exitPolicy = options.exitPolicy ?? process.env.EXIT_POLICY ?? "dev";
  if (exitPolicy !== "dev" && exitPolicy !== "production") throw new Error(`EXIT_POLICY must be "dev" or "production", not "${exitPolicy}".`);
  /** Relays of a second relay deployment (wrangler.toml [env.second]); 0 starts none. */
  const secondRelays = options.secondRelays ?? 0;
  const stateDir = resolve(options.stateDir ?? join(ROOT, ".wrangler", "shallot-dev"));
  const log = options.log ?? (() => {});
  const keys = Array.from({ length: AUTHORITIES }, (_, i) => devAuthorityKey(stateDir, i + 1));
  const authKey = devAuthKey(stateDir);
  clearState(stateDir, { keepAccounts: options.keepAccounts ?? process.env.KEEP_ACCOUNTS === "1" });

  const urls = {
    relay: `http://127.0.0.1:${ports.relay}`,
    /** The first authority: its status page and consensus are the ones to show. */
    directory: `http://127.0.0.1:${ports.directories[0]}`,
    directories: ports.directories.map((port) => `http://127.0.0.1:${port}`),
    auth: `http://127.0.0.1:${ports.auth}`,
    ...(secondRelays > 0 ? { second: `http://127.0.0.1:${ports.second}` } : {}),
  };
  /** Every authority with its pinned key: what relays, the gateway, the page and the CLI pin. */
  const authorities = keys.map((key, i) => ({ url: urls.directories[i], key: key.publicKey }));
  const authorityList = authorities.map((a) => `${a.key}@${a.url}`).join(",");
  // The dev mesh has one relay deployment (two with SECOND_RELAYS): too few for the family rule,
  // which needs a deployment per hop. It is off here, and only here.
  const familyRule = false;
  // The CLI's default network: this mesh's authorities and knobs (git-ignored, rewritten each start).
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(stateDir, "network.json"), `${JSON.stringify({ authorities, familyRule })}\n`);
  const inspector = options.inspectorBase ?? 9230 + (ports.relay % 100) * 3;
  const adminToken = process.env.ADMIN_TOKEN ?? DEV_ADMIN_TOKEN;
  // Under the production policy stream exits resolve names themselves, over DNS-over-HTTPS: here a
  // resolver on loopback (scripts/egress.mjs), as deployed exits use Cloudflare's.
  const resolver = exitPolicy === "production" ? await startResolver({ hosts: options.egressHosts }) : null;
  const relayVars = (publicUrl) => ({
    DIRECTORY_AUTHORITIES: authorityList,
    FAMILY_RULE: String(familyRule),
    ADMIN_TOKEN: adminToken,
    PUBLIC_URL: publicUrl,
    AUTH_URL: urls.auth,
    // The gateway pins the auth server's key from its own configuration (docs/auth.md §6.1).
    AUTH_PUBLIC_KEY: authKey.publicKey,
    // The dev mesh's relays live on loopback, and by default its exits may fetch local origins;
    // production refuses both. EXIT_POLICY=production keeps the relays on loopback but gives the
    // exits the production policy, names included (scripts/egress.mjs).
    ALLOW_PRIVATE_RELAYS: "true",
    ALLOW_PRIVATE_DESTINATIONS: exitPolicy === "production" ? "false" : "true",
    // Local origins listen on any port; production exits carry 80 and 443 only.
    EXIT_PORTS: exitPolicy === "production" ? "80,443" : "*",
    ...(resolver ? { DOH_URL: resolver.url } : {}),
    PING_INTERVAL_MS: pingIntervalMs,
    ...options.extraRelayVars,
  });
  const authorityVars = (key) => ({
    DIRECTORY_SIGNING_KEY: key.seed,
    DIRECTORY_AUTHORITIES: authorityList,
    ALLOW_PRIVATE_RELAY_ADDRESSES: "true",
    RELAY_TTL_MS: relayTtlMs,
    PING_INTERVAL_MS: pingIntervalMs,
    // Short rounds, tests and uptimes, so the dev mesh lists its relays within seconds and shows
    // every flag within a minute; and one deployment may list all its relays (production: K = 2).
    CONSENSUS_PERIOD_MS: process.env.CONSENSUS_PERIOD_MS ?? "5000",
    RETEST_MS: process.env.RETEST_MS ?? "30000",
    TEST_TIMEOUT_MS: process.env.TEST_TIMEOUT_MS ?? "3000",
    STABLE_AFTER_MS: process.env.STABLE_AFTER_MS ?? "10000",
    GUARD_AFTER_MS: process.env.GUARD_AFTER_MS ?? "20000",
    MAX_RELAYS_PER_HOST: process.env.MAX_RELAYS_PER_HOST ?? "32",
    ...options.extraAuthorityVars,
  });
  // The first authority and the auth server keep the inspector ports they always had (relay is third).
  const workers = [
    { name: AUTHORITY_NAMES[0], config: "workers/directory/wrangler.toml", port: ports.directories[0], vars: authorityVars(keys[0]) },
    { name: "auth", config: "workers/auth/wrangler.toml", port: ports.auth, vars: { AUTH_HPKE_KEY: authKey.seed } },
    { name: "relay", config: "wrangler.toml", port: ports.relay, vars: relayVars(urls.relay), egress: exitPolicy === "production" },
    { name: AUTHORITY_NAMES[1], config: "workers/directory/wrangler.toml", env: "second", port: ports.directories[1], vars: authorityVars(keys[1]) },
    { name: AUTHORITY_NAMES[2], config: "workers/directory/wrangler.toml", env: "third", port: ports.directories[2], vars: authorityVars(keys[2]) },
    ...(secondRelays > 0 ? [{ name: "second", config: "wrangler.toml", env: "second", port: ports.second, vars: relayVars(urls.second), egress: exitPolicy === "production" }] : []),
  ];

  const aborted = new Promise((_, reject) => {
    if (options.signal?.aborted) reject(new Error("interrupted"));
    options.signal?.addEventListener("abort", () => reject(new Error("interrupted")), { once: true });
  });
  aborted.catch(() => {});
  const wranglerEnv = {
    ...process.env,
    WRANGLER_SEND_METRICS: "false",
    CI: process.env.CI ?? "",
    // Nothing a circuit carries may reach the disk. Local observability is miniflare's trace store
    // (<persist-to>/v3/observability/*.sqlite: every subrequest's URL, headers and user-agent); wrangler
    // reads only this variable for it, not [observability] in the config. WRANGLER_WRITE_LOGS=false
    // keeps wrangler from copying its output to ~/.config/.wrangler/logs.
    X_LOCAL_OBSERVABILITY: "false",
    WRANGLER_WRITE_LOGS: "false",
    // Nor is it shown: the local explorer (/cdn-cgi/local/explorer on every worker's port) would let any
    // local process browse the relays' Durable Object storage, live circuit keys included.
    X_LOCAL_EXPLORER: "false",
    // Nor does a start call Cloudflare: no workers.cloudflare.com/cf.json for Request.cf, which no
    // worker here reads (offline, the failed fetch printed a stack trace on every start).
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
  };
  // The auth server's D1 schema: numbered migrations, applied to the local database before it starts.
  if (existsSync(join(ROOT, "workers", "auth", "migrations"))) await run(join(ROOT, "node_modules", ".bin", "wrangler"), ["d1", "migrations", "apply", "DB", "--local", "-c", "workers/auth/wrangler.toml", "--persist-to", join(stateDir, "state", "auth")], { ...wranglerEnv, CI: "true" });
  log("[mesh] auth database migrated");

  const processes = [];
  let stopping = false;
  // Last resort when this process ends without stop() (an uncaught error, process.exit): no group
  // may outlive it, or workerd keeps the ports.
  const killAll = () => processes.forEach((p) => p.kill());
  process.once("exit", killAll);
  const stop = async () => {
    stopping = true;
    await Promise.all(processes.map((p) => p.stop()));
    await resolver?.close();
    process.removeListener("exit", killAll);
  };
  /** The first worker process to end on its own, with the cause named (see supervise.mjs). */
  let firstExit;
  let reportExit;
  const exited = new Promise((resolvePromise) => (reportExit = resolvePromise));
  const failed = exited.then((exit) => Promise.reject(new WorkerExited(exit)));
  failed.catch(() => {});
  try {
    workers.forEach((worker, i) => {
      const args = [
        "dev",
        "-c", worker.config,
        ...(worker.env ? ["--env", worker.env] : []),
        "--ip", "127.0.0.1",
        "--port", String(worker.port),
        "--inspector-port", String(inspector + i),
        "--persist-to", join(stateDir, "state", worker.name),
        // Reloading on a source change is for `npm run dev`; a test or the bench keeps what it started with.
        ...(options.watch ? [] : ["--no-watch"]),
        "--show-interactive-dev-session=false",
        "--env-file", envFile(join(stateDir, `${worker.name}.env`), worker.vars),
      ];
      const prefix = `[${worker.name}] `;
      // wrangler dev through its API, its public port served by the runtime itself (dev-worker.mjs);
      // under the production policy a relay deployment's fetches go through the egress check.
      const [command, commandArgs] = [process.execPath, [join(ROOT, "scripts", "dev-worker.mjs"), ...args.slice(1), ...(worker.egress ? ["--production-egress"] : [])]];
      const env = worker.egress && options.egressHosts ? { ...wranglerEnv, SHALLOT_EGRESS_HOSTS: JSON.stringify(options.egressHosts) } : wranglerEnv;
      const supervised = spawnSupervised(worker.name, command, commandArgs, { cwd: ROOT, env, ports: [worker.port, inspector + i], onLine: (line) => log(prefix + line) });
      supervised.exited.then((exit) => {
        if (stopping || firstExit) return;
        firstExit = exit;
        reportExit(exit);
      });
      processes.push(supervised);
    });

    // Aborted once the start is over (ready, failed or interrupted): the health checks stop polling.
    const givenUp = new AbortController();
    const start = async () => {
      const bases = [urls.relay, ...urls.directories, urls.auth, ...(urls.second ? [urls.second] : [])];
      await Promise.all(bases.map((url) => waitFor(`${url}/health`, 120_000, givenUp.signal)));
      const addRelays = async (base, count) => {
        for (let i = 0; i < count; i++) {
          const response = await fetch(`${base}/relays`, { method: "POST", headers: { authorization: `Bearer ${adminToken}` }, signal: AbortSignal.timeout(10_000) });
          if (response.status !== 201) throw new Error(`POST ${base}/relays answered ${response.status}: ${await response.text()}`);
          const descriptor = await response.json();
          log(`[mesh] relay ${descriptor.id.slice(0, 12)}… at ${descriptor.address}`);
        }
      };
      await addRelays(urls.relay, relays);
      if (secondRelays > 0) await addRelays(urls.second, secondRelays);
      // Tested by every authority, voted for, and in a consensus a majority of them signed.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const response = await fetch(`${urls.directory}/consensus`, { signal: AbortSignal.timeout(5_000) }).catch(() => null);
        const consensus = response?.ok ? await response.json() : null;
        if (consensus && consensus.signatures.length > AUTHORITIES / 2 && JSON.parse(consensus.document).relays.length >= relays + secondRelays) break;
        if (Date.now() > deadline) throw new Error("the relays did not reach a consensus signed by a majority of the authorities");
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    // A worker that dies while the others start (a port in use) is the cause, whatever else fails after.
    await Promise.race([start(), failed, aborted]).finally(() => givenUp.abort());
  } catch (error) {
    // A request may fail before the dead worker's exit is reported: that exit is still the cause.
    const deadExits = await Promise.all(processes.filter((p) => p.hasExited()).map((p) => p.exited));
    await stop();
    const exit = firstExit ?? deadExits[0];
    throw exit ? new WorkerExited(exit) : error;
  }
  /** Each worker's inspector port (DevTools protocol), by worker name: for measurements such as the bench's memory figure. */
  const inspectors = Object.fromEntries(workers.map((worker, i) => [worker.name, inspector + i]));
  return { urls, ports, authorities, familyRule, authKey: authKey.publicKey, adminToken, stop, exited, processes, inspectors };
}
