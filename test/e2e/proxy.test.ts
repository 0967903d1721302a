// `onion proxy` against the real mesh, driven by the real curl: a local forward proxy whose requests
// go through circuits it builds itself.

import { type ChildProcessWithoutNullStreams, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { generateEd25519, toBase64Url } from "@shallot/protocol";
import { networkArgs } from "./network.ts";
import { type Origin, freePort, startOrigin } from "./origin.ts";

const mesh = inject("mesh");
const ROOT = resolve(import.meta.dirname, "../..");
const BIN = join(ROOT, "packages/client/bin/onion.mjs");

interface Proxy {
  url: string;
  child: ChildProcessWithoutNullStreams;
  stderr: () => string;
  stop(): Promise<number | null>;
}

/** Starts `onion proxy --port <free port>` and resolves once it says where it listens. */
async function startProxy(args: string[]): Promise<Proxy> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, "proxy", "--port", String(port), ...args], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  await new Promise<void>((resolvePromise, reject) => {
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      if (stdout.includes(`listening on http://127.0.0.1:${port} `)) resolvePromise();
    });
    child.once("exit", (code) => reject(new Error(`onion proxy exited (${code}): ${stderr}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    stderr: () => stderr,
    stop: () =>
      new Promise((resolvePromise) => {
        if (child.exitCode !== null) return resolvePromise(child.exitCode);
        child.once("exit", (code) => resolvePromise(code));
        child.kill("SIGTERM");
      }),
  };
}

interface Curl {
  code: number;
  stdout: Buffer;
  stderr: string;
}

function curl(args: string[]): Promise<Curl> {
  return new Promise((resolvePromise) => {
    execFile("curl", ["-sS", ...args], { encoding: "buffer", maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolvePromise({ code, stdout, stderr: stderr.toString() });
    });
  });
}

/** Splits `curl -i` output into status, headers (lower-cased names) and body. */
function parseHead(output: Buffer) {
  const split = output.indexOf("\r\n\r\n");
  const [statusLine, ...lines] = output.subarray(0, split).toString().split("\r\n");
  const headers = new Map(lines.map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]));
  return { status: Number(statusLine!.split(" ")[1]), headers, body: output.subarray(split + 4) };
}

let origin: Origin;
let proxy: Proxy;
let scratch: string;

beforeAll(async () => {
  origin = await startOrigin();
  scratch = mkdtempSync(join(tmpdir(), "onion-proxy-"));
  proxy = await startProxy(networkArgs(mesh));
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("onion proxy with curl -x", () => {
  it("carries a GET through a circuit of three relays; the origin gets the request without proxy headers", async () => {
    const body = randomBytes(32 * 1024);
    origin.answer = { status: 200, headers: { "content-type": "application/octet-stream", "x-origin-header": "kept" }, body };
    const before = origin.received.length;
    const result = await curl(["-i", "-x", proxy.url, "-H", "Authorization: Bearer sent", `${origin.url}/through/proxy?q=1`]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const answer = parseHead(result.stdout);
    expect(answer.status).toBe(200);
    expect(answer.headers.get("x-origin-header")).toBe("kept");
    expect(answer.body.equals(body)).toBe(true);
    const path = answer.headers.get("onion-circuit")!.split(",");
    expect(path).toHaveLength(3);
    expect(new Set(path).size).toBe(3);
    const seen = origin.received[before]!;
    expect(seen).toMatchObject({ method: "GET", url: "/through/proxy?q=1" });
    expect(seen.headers.authorization).toBe("Bearer sent");
    expect(seen.headers["proxy-connection"]).toBeUndefined();
  });

  it("reuses the circuit for the next request, and honours http_proxy", async () => {
    origin.answer = { status: 200, headers: { "content-type": "text/plain" }, body: Buffer.from("again") };
    const first = parseHead((await curl(["-i", "-x", proxy.url, `${origin.url}/one`])).stdout);
    const result = await new Promise<Curl>((resolvePromise) => {
      execFile("curl", ["-sS", "-i", `${origin.url}/two`], { encoding: "buffer", env: { ...process.env, http_proxy: proxy.url, no_proxy: "" } }, (error, stdout, stderr) =>
        resolvePromise({ code: error ? 1 : 0, stdout, stderr: stderr.toString() }),
      );
    });
    expect(result.code).toBe(0);
    const second = parseHead(result.stdout);
    expect(second.body.toString()).toBe("again");
    expect(second.headers.get("onion-circuit")).toBe(first.headers.get("onion-circuit"));
    expect(origin.received.at(-1)!.url).toBe("/two");
  });

  it("carries a binary POST byte for byte", async () => {
    const sent = randomBytes(256 * 1024);
    const file = join(scratch, "post.bin");
    writeFileSync(file, sent);
    origin.answer = { status: 201, headers: { "content-type": "text/plain" }, body: Buffer.from("stored") };
    const before = origin.received.length;
    const result = await curl(["-x", proxy.url, "-H", "Content-Type: application/octet-stream", "--data-binary", `@${file}`, `${origin.url}/store`]);
    expect(result.code).toBe(0);
    expect(result.stdout.toString()).toBe("stored");
    expect(origin.received[before]!.method).toBe("POST");
    expect(origin.received[before]!.body.equals(sent)).toBe(true);
  });

  it("answers a CONNECT it cannot carry with a JSON error: a target that is not host:port, a closed port", async () => {
    const raw = (target: string) =>
      new Promise<string>((resolvePromise, reject) => {
        const socket = connect(Number(new URL(proxy.url).port), "127.0.0.1", () => socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
        let text = "";
        socket.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
        socket.on("end", () => resolvePromise(text));
        socket.on("error", reject);
      });
    const invalid = await raw("example.com/path:443");
    expect(invalid).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(invalid).toMatch(/\r\ncontent-type: application\/json\r\n/);
    expect(JSON.parse(invalid.slice(invalid.indexOf("\r\n\r\n") + 4))).toEqual({ error: "invalid_target", message: expect.stringMatching(/host:port/) });

    const closed = await raw(`127.0.0.1:${await freePort()}`);
    expect(closed).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(JSON.parse(closed.slice(closed.indexOf("\r\n\r\n") + 4))).toMatchObject({ error: "connection_refused" });
  });

  it("answers failures as JSON: the exit's error with its status, and 400 for a request that is not for a proxy", async () => {
    const unreachable = await curl(["-i", "-x", proxy.url, `http://127.0.0.1:${await freePort()}/`]);
    const failed = parseHead(unreachable.stdout);
    expect(failed.status).toBe(502);
    expect(failed.headers.get("content-type")).toBe("application/json");
    expect(JSON.parse(failed.body.toString())).toMatchObject({ error: "exit_fetch_failed", message: expect.any(String) });

    const direct = parseHead((await curl(["-i", `${proxy.url}/not-absolute`])).stdout);
    expect(direct.status).toBe(400);
    expect(JSON.parse(direct.body.toString()).error).toBe("not_a_proxy_request");

    const method = parseHead((await curl(["-i", "-x", proxy.url, "-X", "OPTIONS", `${origin.url}/`])).stdout);
    expect(method.status).toBe(405);
    expect(JSON.parse(method.body.toString()).error).toBe("method_not_allowed");
  });
});

describe("onion proxy when the network cannot be used", () => {
  it("answers 503 bad_signature when the consensus is not signed by the pinned keys", async () => {
    const wrongKeys = await Promise.all(mesh.authorities.map(async (a) => ["--authority", `${toBase64Url((await generateEd25519()).publicKey)}@${a.url}`]));
    const wrong = await startProxy([...wrongKeys.flat(), "--state-dir", join(scratch, "wrong")]);
    try {
      const before = origin.received.length;
      const answer = parseHead((await curl(["-i", "-x", wrong.url, `${origin.url}/`])).stdout);
      expect(answer.status).toBe(503);
      expect(JSON.parse(answer.body.toString())).toEqual({ error: "bad_signature", message: expect.stringMatching(/signed by more than half \(2\) of the 3 pinned authorities/) });
      expect(origin.received.length).toBe(before);
    } finally {
      expect(await wrong.stop()).toBe(0);
    }
  });

  it("answers 503 directory_unreachable when every authority is down", async () => {
    const downArgs = await Promise.all(mesh.authorities.map(async (a) => ["--authority", `${a.key}@http://127.0.0.1:${await freePort()}`]));
    const down = await startProxy([...downArgs.flat(), "--state-dir", join(scratch, "down")]);
    try {
      const answer = parseHead((await curl(["-i", "-x", down.url, `${origin.url}/`])).stdout);
      expect(answer.status).toBe(503);
      expect(JSON.parse(answer.body.toString())).toMatchObject({ error: "directory_unreachable" });
      // The proxy stays up and quiet (stderr is not a terminal).
      expect(down.child.exitCode).toBe(null);
      expect(down.stderr()).toBe("");
    } finally {
      expect(await down.stop()).toBe(0);
    }
  });
});
