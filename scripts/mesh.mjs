// Starts the local mesh: the directory, the auth server and the relay worker, each a `wrangler dev`
// (workerd via miniflare) on its own port, then adds relays until the consensus lists them.
// Used by `npm run dev`, the end-to-end tests and the benchmark.

import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Documented dev-only admin token (README). Production uses `wrangler secret put ADMIN_TOKEN`. */
export const DEV_ADMIN_TOKEN = "shallot-dev-admin-token";

const b64url = (buffer) => Buffer.from(buffer).toString("base64url");

/** The dev directory key: made once per checkout, kept under .wrangler (git-ignored). */
export function devDirectoryKey(stateDir) {
  const file = join(stateDir, "directory-key.json");
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8"));
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const seed = privateKey.export({ format: "jwk" }).d;
  const key = { seed, publicKey: publicKey.export({ format: "jwk" }).x };
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(file, JSON.stringify(key), { mode: 0o600 });
  return key;
}

function envFile(path, vars) {
  writeFileSync(path, Object.entries(vars).map(([k, v]) => `${k}=${v}`).join("\n") + "\n", { mode: 0o600 });
  return path;
}

async function waitFor(url, { timeoutMs, isAlive }) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error(`a wrangler process exited before ${url} answered`);
    try {
      const response = await fetch(url);
      if (response.ok) return response;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/**
 * Starts the mesh and resolves once `relays` relays are in the consensus.
 * Options: ports { relay, directory, auth }, relays, stateDir, log (fn), extraRelayVars.
 */
export async function startMesh(options = {}) {
  const ports = { relay: 8787, directory: 8788, auth: 8789, ...options.ports };
  const relays = options.relays ?? 6;
  const stateDir = resolve(options.stateDir ?? join(ROOT, ".wrangler", "shallot-dev"));
  const log = options.log ?? (() => {});
  const key = devDirectoryKey(stateDir);
  // Relays and the directory start fresh each time; the auth server's users persist.
  for (const dir of ["relay", "directory"]) rmSync(join(stateDir, "state", dir), { recursive: true, force: true });

  const urls = {
    relay: `http://127.0.0.1:${ports.relay}`,
    directory: `http://127.0.0.1:${ports.directory}`,
    auth: `http://127.0.0.1:${ports.auth}`,
  };
  const inspector = options.inspectorBase ?? 9230 + (ports.relay % 100) * 3;
  const workers = [
    {
      name: "directory",
      config: "workers/directory/wrangler.toml",
      port: ports.directory,
      vars: { DIRECTORY_SIGNING_KEY: key.seed, RELAY_TTL_MS: process.env.RELAY_TTL_MS ?? "30000", PING_INTERVAL_MS: process.env.PING_INTERVAL_MS ?? "10000" },
    },
    { name: "auth", config: "workers/auth/wrangler.toml", port: ports.auth, vars: {} },
    {
      name: "relay",
      config: "wrangler.toml",
      port: ports.relay,
      vars: {
        DIRECTORY_URL: urls.directory,
        DIRECTORY_PUBLIC_KEY: key.publicKey,
        ADMIN_TOKEN: process.env.ADMIN_TOKEN ?? DEV_ADMIN_TOKEN,
        PUBLIC_URL: urls.relay,
        // The dev mesh may fetch local origins; production refuses private destinations.
        ALLOW_PRIVATE_DESTINATIONS: "true",
        PING_INTERVAL_MS: process.env.PING_INTERVAL_MS ?? "10000",
        ...options.extraRelayVars,
      },
    },
  ];

  const children = [];
  const stop = async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
    await Promise.all(children.map((child) => (child.exitCode === null ? new Promise((r) => child.once("exit", r)) : null)));
  };
  try {
    workers.forEach((worker, i) => {
      const args = [
        "dev",
        "-c", worker.config,
        "--ip", "127.0.0.1",
        "--port", String(worker.port),
        "--inspector-port", String(inspector + i),
        "--persist-to", join(stateDir, "state", worker.name),
        "--show-interactive-dev-session=false",
        "--env-file", envFile(join(stateDir, `${worker.name}.env`), worker.vars),
      ];
      const child = spawn(join(ROOT, "node_modules", ".bin", "wrangler"), args, {
        cwd: ROOT,
        env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: process.env.CI ?? "" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      const prefix = `[${worker.name}] `;
      for (const stream of [child.stdout, child.stderr]) {
        stream.setEncoding("utf8");
        stream.on("data", (chunk) => {
          for (const line of chunk.split("\n")) if (line.trim()) log(prefix + line);
        });
      }
      children.push(child);
    });
    const isAlive = () => children.every((child) => child.exitCode === null);
    await Promise.all(Object.values(urls).map((url) => waitFor(`${url}/health`, { timeoutMs: 120_000, isAlive })));

    const token = workers[2].vars.ADMIN_TOKEN;
    for (let i = 0; i < relays; i++) {
      const response = await fetch(`${urls.relay}/relays`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
      if (response.status !== 201) throw new Error(`POST /relays answered ${response.status}: ${await response.text()}`);
      const descriptor = await response.json();
      log(`[mesh] relay ${descriptor.id.slice(0, 12)}… at ${descriptor.address}`);
    }
    const deadline = Date.now() + 30_000;
    for (;;) {
      const consensus = await (await fetch(`${urls.directory}/consensus`)).json();
      if (JSON.parse(consensus.document).relays.length >= relays) break;
      if (Date.now() > deadline) throw new Error("the relays did not reach the consensus");
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { urls, ports, directoryKey: key.publicKey, adminToken: workers[2].vars.ADMIN_TOKEN, stop, children };
}
