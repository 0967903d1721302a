// The README, run as written: every shell block in order, in a shell like a reader's (no npm
// environment, no node_modules/.bin on PATH), against the mesh its first block starts with
// `npm run dev` on the ports it names. Blocks that keep running (npm run dev, the origin, the onion
// proxy) are left running for the blocks after them and stopped at the end. Then it all runs a
// second time, as a reader would the next day: `npm run dev` starts clean, so the same accounts
// register again. See blocks.ts for the markers.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Block, outputProblems, shellBlocks } from "./blocks.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const README = readFileSync(resolve(ROOT, "README.md"), "utf8");
const BLOCKS = shellBlocks(README);
/** The ports the README's commands use: the dev mesh (relays, the three authorities, auth), the origin, the onion proxy. */
const PORTS = [8787, 8788, 8791, 8792, 8789, 9000, 8118];
const BLOCK_TIMEOUT_MS = 120_000;
/** What a passing run must not print: uncaught errors, stack traces, warnings meant for nobody. */
const ALARMING = /uncaught|✘|\[ERROR\]|\bError: |:warn\]|\bWARNING\b|ping failed|did not take the ping|EBADENGINE|telemetry|\sat .+\(.+:\d+:\d+\)|Network connection lost/i;

/** A reader's shell: the variables npm sets for scripts, and the knobs npm run dev reads, are not there. */
function readerEnv(): NodeJS.ProcessEnv {
  const knobs = new Set([
    ...["RELAYS", "RELAY_PORT", "DIRECTORY_PORTS", "AUTH_PORT", "SECOND_PORT", "SECOND_RELAYS", "RELAY_TTL_MS", "PING_INTERVAL_MS", "ADMIN_TOKEN", "QUIET", "INSPECTOR_PORT", "STATE_DIR", "KEEP_ACCOUNTS", "EXIT_POLICY"],
    ...["CONSENSUS_PERIOD_MS", "RETEST_MS", "TEST_TIMEOUT_MS", "STABLE_AFTER_MS", "GUARD_AFTER_MS", "MAX_RELAYS_PER_HOST", "FAMILY_RULE"],
    ...["SHALLOT_AUTHORITIES", "SHALLOT_STATE_DIR", "PORT", "HOST", "NODE_OPTIONS", "VITEST", "VITEST_MODE", "VITEST_POOL_ID", "VITEST_WORKER_ID", "TEST", "NODE_ENV"],
  ]);
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name) && !knobs.has(name)));
  env.PATH = (process.env.PATH ?? "")
    .split(":")
    .filter((dir) => !dir.includes("node_modules/.bin") && !dir.includes("node-gyp-bin"))
    .join(":");
  // `onion` keeps its entry guards in the reader's state directory: here one of the test's own.
  env.XDG_STATE_HOME = stateHome;
  return env;
}

interface Started {
  block: Block;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Runs a block's text with bash, as the leader of its own process group (so it can all be stopped). */
function start(block: Block): Started {
  const child = spawn("bash", ["-euo", "pipefail", "-c", block.code], { cwd: ROOT, env: readerEnv(), stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolvePromise) => child.once("close", (code) => resolvePromise(code)));
  return { block, child, output: () => output, exited };
}

const groupAlive = (pid: number) => {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** SIGTERM to the block's whole group (as Ctrl-C reaches all of it), SIGKILL to what is left after `graceMs`. */
async function stop(started: Started, graceMs = 15_000) {
  const pid = started.child.pid!;
  if (!groupAlive(pid)) return;
  process.kill(-pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (groupAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (groupAlive(pid)) process.kill(-pid, "SIGKILL");
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once("error", () => resolvePromise(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolvePromise(true)));
  });
}

async function busyPorts(): Promise<number[]> {
  const busy: number[] = [];
  for (const port of PORTS) if (!(await portFree(port))) busy.push(port);
  return busy;
}

/** The working tree as git sees it, and the lock's digest: the README's commands must change neither. */
function treeState(): string | null {
  try {
    const status = execFileSync("git", ["status", "--porcelain"], { cwd: ROOT, encoding: "utf8" });
    return `${status}\n${createHash("sha256").update(readFileSync(resolve(ROOT, "package-lock.json"))).digest("hex")}`;
  } catch {
    return null; // not a git checkout
  }
}

const title = (block: Block) => `README.md:${block.line} ${block.code.split("\n").find((line) => line.trim() && !line.trim().startsWith("#"))?.trim().slice(0, 70) ?? ""}`;

let treeBefore: string | null = null;
/** The reader's $XDG_STATE_HOME for this run (removed at the end), so nothing is left in the real one. */
const stateHome = mkdtempSync(join(tmpdir(), "shallot-readme-state-"));
const running: Started[] = [];

beforeAll(async () => {
  const busy = await busyPorts();
  if (busy.length > 0) {
    throw new Error(`the README test needs ports ${PORTS.join(", ")}, and ${busy.join(", ")} ${busy.length > 1 ? "are" : "is"} in use: stop npm run dev (or whatever holds them), or run the tests in a network namespace of their own (README, "Set up, run, test")`);
  }
  treeBefore = treeState();
});

afterAll(async () => {
  // Whatever failed, nothing started here outlives the test.
  await Promise.all(running.splice(0).reverse().map((started) => stop(started, 5_000)));
  rmSync(stateHome, { recursive: true, force: true });
});

function pass(label: string) {
  describe(label, () => {
    const kept: Started[] = [];

    for (const block of BLOCKS) {
      // Not run here; the test below holds each one's reason to what it names.
      if (block.kind === "not-run") continue;
      if (block.kind === "keeps-running") {
        it(`${title(block)} — keeps running; ready when it prints "${block.ready}"`, async () => {
          const started = start(block);
          running.push(started);
          kept.push(started);
          const deadline = Date.now() + BLOCK_TIMEOUT_MS;
          while (!started.output().includes(block.ready)) {
            if (started.child.exitCode !== null || started.child.signalCode !== null) throw new Error(`it ended before it was ready:\n${started.output()}`);
            if (Date.now() > deadline) throw new Error(`not ready after ${BLOCK_TIMEOUT_MS} ms:\n${started.output()}`);
            await new Promise((r) => setTimeout(r, 100));
          }
        }, BLOCK_TIMEOUT_MS + 10_000);
        continue;
      }
      it(title(block), async () => {
        const started = start(block);
        const timer = setTimeout(() => stop(started, 1_000), BLOCK_TIMEOUT_MS);
        const code = await started.exited;
        clearTimeout(timer);
        // A background job the block left behind goes with it.
        await stop(started, 1_000);
        const problems = outputProblems(block.expected, started.output());
        if (code !== 0) problems.unshift(`it exited with ${code}`);
        expect(problems, `README.md:${block.line} printed:\n${started.output()}`).toEqual([]);
      }, BLOCK_TIMEOUT_MS + 10_000);
    }

    it("stops what it started: nothing is left listening on the README's ports", async () => {
      for (const started of kept.reverse()) {
        await stop(started);
        running.splice(running.indexOf(started), 1);
      }
      expect(await busyPorts()).toEqual([]);
    }, 60_000);

    it("printed nothing alarming from npm install to Ctrl-C (no uncaught error, stack trace or stray warning)", () => {
      const alarming = kept.flatMap((started) => started.output().split("\n")).filter((line) => ALARMING.test(line));
      expect(alarming).toEqual([]);
    });
  });
}

describe("the blocks the README does not run", () => {
  it("each say why, and every test they name as running them instead exists", () => {
    const notRun = BLOCKS.filter((block): block is Extract<Block, { kind: "not-run" }> => block.kind === "not-run");
    expect(notRun.length).toBeGreaterThan(0);
    for (const block of notRun) {
      expect(block.reason, title(block)).toMatch(/\w+ \w+/);
      for (const [named] of block.reason.matchAll(/\b(?:test|scripts|workers|packages)\/[\w./-]+\.test\.ts\b/g)) expect(existsSync(resolve(ROOT, named)), `${title(block)} names ${named}`).toBe(true);
    }
  });
});

pass("the README, as written");
pass("the README again, as a reader would the next day (npm run dev starts clean)");

it("leaves the working tree as it found it (git status, package-lock.json)", () => {
  expect(treeState()).toBe(treeBefore);
});
