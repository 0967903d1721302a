// One worker of the dev mesh (scripts/dev-worker.mjs), run as npm run dev runs it, on a worker of the
// test's own: its public port reaches the worker's runtime, follows it across a reload when a source
// changes, answers CONNECT in JSON, and a taken port is named.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../test/e2e/origin.ts";

const ROOT = resolve(import.meta.dirname, "..");
let dir: string;
let worker: ChildProcess | undefined;
let output = "";
let port: number;

const source = (version: string) => `export default { fetch: (request) => new Response("${version} " + request.method + " " + new URL(request.url).pathname) };\n`;

function start(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [join(ROOT, "scripts", "dev-worker.mjs"), "-c", join(dir, "wrangler.toml"), "--ip", "127.0.0.1", ...args, "--persist-to", join(dir, "state")], {
    cwd: dir,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_REGISTRY_PATH: join(dir, "registry") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  return child;
}

const text = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).text();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "shallot-dev-worker-"));
  writeFileSync(join(dir, "wrangler.toml"), `name = "dev-worker-test"\nmain = "index.js"\ncompatibility_date = "2026-11-01"\n`);
  writeFileSync(join(dir, "index.js"), source("v1"));
  port = await freePort();
  worker = start(["--port", String(port), "--inspector-port", String(await freePort())]);
  const deadline = Date.now() + 60_000;
  while (!output.includes(`Ready on http://127.0.0.1:${port}`)) {
    if (Date.now() > deadline || worker.exitCode !== null) throw new Error(`dev-worker.mjs did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 90_000);

afterAll(async () => {
  if (worker && worker.exitCode === null) {
    worker.kill("SIGTERM");
    await new Promise((r) => worker!.once("exit", r));
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("a dev mesh worker's public port", () => {
  it("reaches the worker, and after a source changes, the reloaded worker", async () => {
    expect(await text("/a")).toBe("v1 GET /a");
    writeFileSync(join(dir, "index.js"), source("v2"));
    await expect.poll(() => text("/b").catch(() => "unreachable"), { timeout: 30_000, interval: 100 }).toBe("v2 GET /b");
    // Every request after the reload is answered by the new runtime, on new connections too.
    for (let i = 0; i < 10; i++) expect(await text(`/c${i}`)).toBe(`v2 GET /c${i}`);
  }, 60_000);

  it("answers CONNECT itself, in JSON", async () => {
    const answer = await new Promise<string>((done, fail) => {
      const socket = connect(port, "127.0.0.1", () => socket.write("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"));
      let got = "";
      socket.on("data", (chunk) => (got += chunk));
      socket.on("end", () => done(got));
      socket.on("error", fail);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 405 /);
    expect(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4))).toMatchObject({ error: "method_not_allowed" });
  });

  it("refuses to start on a port that is taken, naming it, before any runtime starts", async () => {
    const other = start(["--port", String(port), "--inspector-port", String(await freePort())]);
    const code = await new Promise<number | null>((r) => other.once("exit", r));
    expect(code).toBe(1);
    expect(output).toContain(`Address already in use: 127.0.0.1:${port}`);
    // The first one still serves.
    expect(await text("/d")).toBe("v2 GET /d");
  }, 30_000);
});
