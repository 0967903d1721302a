// `npm run dev` as a supervisor: when one worker's process ends, the others are stopped, nothing is
// left listening, and the exit names the real cause. Each test starts its own mesh on free ports.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
// @ts-expect-error -- plain ESM script shared with `npm run dev`
import { exitCause, portInUse } from "../../scripts/supervise.mjs";
import { freePort } from "./origin.ts";

const ROOT = resolve(import.meta.dirname, "../..");

interface Dev {
  process: ChildProcess;
  stdout: string;
  stderr: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

let stateDir: string | undefined;
let dev: Dev | undefined;
let blocker: Server | undefined;
/** Every process group dev.mjs has started, noted while it runs (it may exit within seconds). */
const groups = new Set<number>();
let watching: NodeJS.Timeout | undefined;

interface Proc {
  pid: number;
  ppid: number;
  pgid: number;
  zombie: boolean;
  cmdline: string;
}

function processes(): Proc[] {
  const all: Proc[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const [state, ppid, pgid] = readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]!.split(" ");
      all.push({ pid: Number(entry), ppid: Number(ppid), pgid: Number(pgid), zombie: state === "Z", cmdline: readFileSync(`/proc/${entry}/cmdline`, "utf8") });
    } catch {
      // gone meanwhile
    }
  }
  return all;
}

/** The process groups dev.mjs started: each worker's wrangler leads its own (workerd and esbuild in it). */
const groupsOf = (devPid: number) => processes().filter((p) => p.ppid === devPid).map((p) => p.pid);

/** Processes still alive in those groups, or naming our state directory. */
const leftovers = (groups: Set<number>, dir: string) => processes().filter((p) => !p.zombie && (groups.has(p.pgid) || p.cmdline.includes(dir)));

afterEach(async () => {
  // Whatever the outcome, nothing this file started may outlive it.
  if (dev && dev.process.exitCode === null && dev.process.signalCode === null) dev.process.kill("SIGKILL");
  if (stateDir) {
    for (const p of leftovers(groups, stateDir)) {
      try {
        process.kill(-p.pgid, "SIGKILL");
      } catch {}
    }
    rmSync(stateDir, { recursive: true, force: true });
  }
  clearInterval(watching);
  groups.clear();
  blocker?.close();
  stateDir = dev = blocker = undefined;
});

/** `n` consecutive free loopback ports (the workers' inspectors take consecutive ones). */
async function freeRange(n: number): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    if ((await Promise.all(Array.from({ length: n }, (_, i) => isFree(base + i)))).every(Boolean)) return base;
  }
}

function isFree(port: number): Promise<boolean> {
  return new Promise((r) => {
    const server = createServer();
    server.once("error", () => r(false));
    server.listen(port, "127.0.0.1", () => server.close(() => r(true)));
  });
}

/** True when something accepts a TCP connection on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((r) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), r(true)));
    socket.once("error", () => r(false));
  });
}

async function ports() {
  const [relay, auth] = [await freePort(), await freePort()];
  const directories = [await freePort(), await freePort(), await freePort()];
  // Five workers: three authorities, the auth server and the relay worker.
  return { relay, directories, auth, inspector: await freeRange(5) };
}

function startDev(p: Awaited<ReturnType<typeof ports>>, env: Record<string, string>): Dev {
  stateDir = mkdtempSync(join(tmpdir(), "shallot-dev-supervisor-"));
  const child = spawn(process.execPath, ["scripts/dev.mjs"], {
    cwd: ROOT,
    env: { ...process.env, RELAY_PORT: String(p.relay), DIRECTORY_PORTS: p.directories.join(","), AUTH_PORT: String(p.auth), INSPECTOR_PORT: String(p.inspector), STATE_DIR: stateDir, RELAYS: "3", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const started: Dev = {
    process: child,
    stdout: "",
    stderr: "",
    exit: new Promise((r) => child.once("exit", (code, signal) => r({ code, signal, at: Date.now() }))),
  };
  watching = setInterval(() => groupsOf(child.pid!).forEach((pgid) => groups.add(pgid)), 100);
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (started.stdout += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (started.stderr += chunk));
  return started;
}

async function expectNothingListening(p: Awaited<ReturnType<typeof ports>>, except: number[] = [], { workersStarted = true } = {}) {
  const all = [p.relay, ...p.directories, p.auth, ...[0, 1, 2, 3, 4].map((i) => p.inspector + i)].filter((port) => !except.includes(port));
  expect(Object.fromEntries(await Promise.all(all.map(async (port) => [port, await listening(port)])))).toEqual(Object.fromEntries(all.map((port) => [port, false])));
  // Not one process of the mesh is left (wrangler, its node child, workerd, esbuild). A public port
  // found taken stops the start before any wrangler runs (dev-worker.mjs opens it first).
  if (workersStarted) expect(groups.size).toBeGreaterThanOrEqual(5);
  // (A SIGKILLed process may take a moment to be reaped; it is gone, not listening, meanwhile.)
  await expect.poll(() => leftovers(groups, stateDir!).map((p) => p.cmdline.replaceAll("\0", " ")), { timeout: 1_000 }).toEqual([]);
}

describe("the cause of a worker's exit", () => {
  it("finds the port in wrangler's and Node's words for an address in use, colours and all", () => {
    expect(portInUse("\u001b[31m✘ \u001b[41;31m[\u001b[41;97mERROR\u001b[41;31m]\u001b[0m \u001b[1mAddress already in use (127.0.0.1:8787). Please check that you are not already running a server on this address or specify a different port with --port.\u001b[0m")).toBe(8787);
    expect(portInUse("Error: listen EADDRINUSE: address already in use 127.0.0.1:9231")).toBe(9231);
    expect(portInUse("Error: listen EADDRINUSE: address already in use [::1]:8788")).toBe(8788);
    expect(portInUse("EADDRINUSE")).toBeNull();
    // wrangler's words for a taken inspector port name a workerd socket, not the port.
    expect(portInUse('✘ [ERROR] Address already in use (socket "direct:1:default"). Please check that you are not already running a server on this address or specify a different port with --port.')).toBeNull();
    expect(portInUse("[wrangler:info] Ready on http://127.0.0.1:8787")).toBeUndefined();
  });

  it("names the port, else the signal, else the exit code", () => {
    expect(exitCause("relay", { code: 1, signal: null, port: 8787 })).toBe("port 8787 is in use (the relay worker could not listen on it)");
    expect(exitCause("directory", { code: null, signal: "SIGKILL" })).toBe("the directory worker's wrangler was killed by SIGKILL");
    expect(exitCause("auth", { code: 3, signal: null })).toBe("the auth worker's wrangler exited with code 3");
  });
});

describe("npm run dev, when a worker's process ends", () => {
  it("names the port that is in use, stops the other workers and exits non-zero (QUIET=1)", async () => {
    const p = await ports();
    // Something that accepts connections and never answers: a health check against it would hang.
    blocker = createServer((socket) => socket.on("error", () => {}));
    await new Promise<void>((r) => blocker!.listen(p.relay, "127.0.0.1", r));
    dev = startDev(p, { QUIET: "1" });
    const { code } = await dev.exit;
    expect(code).toBe(1);
    expect(dev.stderr).toContain(`port ${p.relay} is in use`);
    expect(dev.stderr).not.toMatch(/did not answer|health/);
    await expectNothingListening(p, [p.relay], { workersStarted: false });
  }, 120_000);

  it("names a taken inspector port too, which wrangler itself does not name", async () => {
    const p = await ports();
    blocker = createServer((socket) => socket.on("error", () => {}));
    // The auth worker's inspector: the second of the five.
    await new Promise<void>((r) => blocker!.listen(p.inspector + 1, "127.0.0.1", r));
    dev = startDev(p, { QUIET: "1" });
    expect((await dev.exit).code).toBe(1);
    expect(dev.stderr).toContain(`port ${p.inspector + 1} is in use (the auth worker could not listen on it)`);
    await expectNothingListening(p, [p.inspector + 1]);
  }, 120_000);

  it("stops the rest within 5 s when a worker's wrangler is killed with SIGKILL after the mesh is ready", async () => {
    const p = await ports();
    dev = startDev(p, {});
    const running = dev;
    await expect.poll(() => running.stdout, { timeout: 100_000, interval: 250 }).toContain("mesh ready");
    // The relay worker's wrangler: dev.mjs's own child, the one given the relay worker's config
    // (scripts/dev-worker.mjs, which runs wrangler through its API and serves the public port).
    const wrangler = processes().find((proc) => proc.ppid === running.process.pid && proc.cmdline.includes("\0-c\0wrangler.toml\0"));
    expect(wrangler).toBeDefined();
    const killedAt = Date.now();
    process.kill(wrangler!.pid, "SIGKILL");
    const { code, at } = await running.exit;
    expect(code).toBe(1);
    expect(at - killedAt).toBeLessThan(5_000);
    expect(running.stderr).toContain("the relay worker's wrangler was killed by SIGKILL");
    // Its workerd (which survives a killed wrangler) and the other workers are gone as well.
    await expectNothingListening(p);
  }, 150_000);
});
