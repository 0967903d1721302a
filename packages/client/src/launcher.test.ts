// `npx onion proxy` ends with its npx: the real npm, its `sh -c`, the real proxy. No mesh is needed,
// the proxy listens before it ever asks the directory.

import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isNpm, launcherChain } from "./launcher.ts";

const ROOT = resolve(import.meta.dirname, "../../..");

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const portTaken = (port: number) =>
  new Promise<boolean>((resolvePromise) => {
    const server = createServer();
    server.once("error", () => resolvePromise(true));
    server.listen(port, "127.0.0.1", () => server.close(() => resolvePromise(false)));
  });

/** Processes below `root`, by pid → parent pid. */
function descendants(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {}
  }
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const [child, parent] of parents) if (parent === pid) found.push(child), walk(child);
  };
  walk(root);
  return found;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]![0] !== "Z";
  } catch {
    return false;
  }
};

let started: { npx: ChildProcess; below: number[] } | undefined;
afterEach(() => {
  for (const pid of started?.below ?? []) if (alive(pid)) process.kill(pid, "SIGKILL");
  started = undefined;
});

/** `npx onion proxy --port <port>` as a reader types it, once it says it listens. */
async function npxProxy(port: number) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
  // An authority of its own, as on a fresh clone no mesh has written one: the proxy never calls it.
  const authority = `${Buffer.alloc(32, 1).toString("base64url")}@http://127.0.0.1:9`;
  const npx = spawn("npx", ["onion", "proxy", "--port", String(port), "--authority", authority], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  npx.stdout!.on("data", (chunk) => (output += chunk));
  npx.stderr!.on("data", (chunk) => (output += chunk));
  const deadline = Date.now() + 20_000;
  while (!output.includes("listening")) {
    if (Date.now() > deadline || npx.exitCode !== null) throw new Error(`npx onion proxy did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  started = { npx, below: descendants(npx.pid!) };
  return started;
}

async function gone(pids: number[], withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (pids.some(alive)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

describe.runIf(process.platform === "linux")("npx onion proxy and its npx", () => {
  it.each(["SIGKILL", "SIGTERM"] as const)("stops, freeing its port, when npx is killed with %s", async (signal) => {
    const port = await freePort();
    const { npx, below } = await npxProxy(port);
    expect(below.length).toBeGreaterThan(0);
    expect(await portTaken(port)).toBe(true);
    npx.kill(signal);
    expect(await gone(below, 5_000)).toBe(true);
    expect(await portTaken(port)).toBe(false);
  }, 30_000);

  it("finds npm above a process it started, through npm's shell", async () => {
    const { below } = await npxProxy(await freePort());
    const proxy = below.at(-1)!;
    const chain = launcherChain(proxy);
    expect(chain.at(-1)!.pid).toBe(started!.npx.pid);
    expect(chain.length).toBeGreaterThanOrEqual(1);
  }, 30_000);
});

describe("isNpm", () => {
  it("knows npm by its process title or its script, and nothing else", () => {
    expect(isNpm(["npm exec onion proxy --port 8118"])).toBe(true);
    expect(isNpm(["npm", "exec", "onion"])).toBe(true);
    expect(isNpm(["/usr/bin/node", "/usr/lib/node_modules/npm/bin/npx-cli.js", "onion"])).toBe(true);
    expect(isNpm(["sh", "-c", "onion proxy"])).toBe(false);
    expect(isNpm(["/usr/bin/node", "/srv/npm-mirror/server.js"])).toBe(false);
    expect(isNpm([])).toBe(false);
  });
});
