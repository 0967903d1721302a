// The origin learns nothing about the sender (issue 7, part 4): through the gateway, through
// `onion fetch` and through `onion proxy`, only the allowlisted request headers reach the origin,
// the gateway sends no cookie and a uniform user-agent, and the CLI sends no user-agent of its own.

import { type ChildProcessWithoutNullStreams, execFile, spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { FORWARDED_REQUEST_HEADERS, GATEWAY_USER_AGENT } from "@shallot/protocol";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { networkArgs } from "./network.ts";
import { type Origin, type Received, freePort, startOrigin } from "./origin.ts";

const mesh = inject("mesh");
const ROOT = resolve(import.meta.dirname, "../..");
const BIN = join(ROOT, "packages/client/bin/onion.mjs");
const network = networkArgs(mesh);

/** Headers that name the sender or its address, some standard, some made up for this test. */
const IDENTIFYING: [string, string][] = [
  ["x-client-ip", "10.1.2.3"],
  ["client-ip", "10.1.2.3"],
  ["x-forwarded-for", "10.1.2.3"],
  ["forwarded", "for=10.1.2.3;host=sender.example"],
  ["x-real-ip", "10.1.2.3"],
  ["true-client-ip", "10.1.2.3"],
  ["cf-connecting-ip", "10.1.2.3"],
  ["via", "1.1 sender.example"],
  ["x-originating-ip", "[10.1.2.3]"],
  ["x-my-address", "10.1.2.3"],
  ["referer", "http://sender.example/private"],
  ["accept-language", "fr-BE,fr;q=0.9"],
];
/** Allowlisted headers a user may well send, and must arrive as sent. */
const ALLOWED: [string, string][] = [
  ["accept", "application/json"],
  ["authorization", "Bearer the-users-own-credential"],
  ["cache-control", "no-cache"],
  ["if-none-match", '"v1"'],
];
/** What the exit's own fetch adds to carry a request; cf-worker names the exit's deployment. */
const TRANSPORT = new Set(["host", "connection", "content-length", "accept-encoding", "transfer-encoding", "cf-worker"]);

let origin: Origin;

beforeAll(async () => {
  origin = await startOrigin();
});

afterAll(async () => {
  await origin?.close();
});

/** The one request the origin received for `path`. */
function receivedAt(path: string): Received {
  const seen = origin.received.filter((request) => request.url === path);
  expect(seen).toHaveLength(1);
  return seen[0]!;
}

/** Nothing but allowlisted headers (and what carries the request) arrived, and no trace of the sender. */
function expectOnlyAllowed(seen: Received) {
  const unexpected = Object.keys(seen.headers).filter((name) => !FORWARDED_REQUEST_HEADERS.has(name) && !TRANSPORT.has(name));
  expect(unexpected).toEqual([]);
  const text = JSON.stringify(seen.headers);
  expect(text).not.toContain("10.1.2.3");
  expect(text).not.toContain("sender.example");
  for (const [name, value] of ALLOWED) expect(seen.headers[name], name).toBe(value);
}

function onion(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.once("error", reject);
    child.once("close", (code) => resolvePromise({ code, stderr }));
  });
}

const asArgs = (headers: [string, string][]) => headers.flatMap(([name, value]) => ["-H", `${name}: ${value}`]);

describe("request headers that reach the origin", () => {
  it("through the gateway: the allowlist only, no cookie of the gateway's origin, and the uniform user-agent", async () => {
    origin.answer = { status: 200, headers: { "content-type": "text/plain" }, body: Buffer.from("ok") };
    const response = await fetch(`${mesh.urls.relay}/fetch?url=${encodeURIComponent(`${origin.url}/gateway`)}`, {
      headers: [...IDENTIFYING, ...ALLOWED, ["cookie", "gateway-session=secret"], ["user-agent", "Mozilla/5.0 (X11; Linux x86_64) UniqueBrowser/1.2.3"]],
    });
    expect(response.status).toBe(200);
    const seen = receivedAt("/gateway");
    expectOnlyAllowed(seen);
    expect(seen.headers.cookie).toBeUndefined();
    expect(seen.headers["user-agent"]).toBe(GATEWAY_USER_AGENT);
  });

  it("through onion fetch: the allowlist only, no user-agent unless the user gives one, and the user's own cookie", async () => {
    origin.answer = { status: 200, headers: { "content-type": "text/plain" }, body: Buffer.from("ok") };
    const plain = await onion(["fetch", ...network, ...asArgs([...IDENTIFYING, ...ALLOWED]), `${origin.url}/cli`]);
    expect(plain).toEqual({ code: 0, stderr: "" });
    const seen = receivedAt("/cli");
    expectOnlyAllowed(seen);
    expect(seen.headers["user-agent"]).toBeUndefined();
    expect(seen.headers.cookie).toBeUndefined();

    const chosen = await onion(["fetch", ...network, ...asArgs([...ALLOWED, ["cookie", "mine=1"]]), "-A", "chosen-agent/1", `${origin.url}/cli-agent`]);
    expect(chosen.code).toBe(0);
    const withAgent = receivedAt("/cli-agent");
    expectOnlyAllowed(withAgent);
    expect(withAgent.headers["user-agent"]).toBe("chosen-agent/1");
    expect(withAgent.headers.cookie).toBe("mine=1");
  });

  it("through onion proxy: the allowlist only, whatever the user's HTTP client sent", async () => {
    const port = await freePort();
    const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [BIN, "proxy", "--port", String(port), ...network], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
    try {
      await new Promise<void>((resolvePromise, reject) => {
        let stdout = "";
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
          stdout += chunk;
          if (stdout.includes("listening on")) resolvePromise();
        });
        child.once("exit", (code) => reject(new Error(`onion proxy exited (${code})`)));
      });
      origin.answer = { status: 200, headers: { "content-type": "text/plain" }, body: Buffer.from("ok") };
      const code = await new Promise<number>((resolvePromise) =>
        execFile("curl", ["-sS", "-o", "/dev/null", "-x", `http://127.0.0.1:${port}`, ...asArgs([...IDENTIFYING, ...ALLOWED]), `${origin.url}/proxy`], (error) => resolvePromise(error ? 1 : 0)),
      );
      expect(code).toBe(0);
      expectOnlyAllowed(receivedAt("/proxy"));
    } finally {
      child.kill("SIGTERM");
    }
  });
});
