// The `onion` CLI against the real mesh: it builds its own circuits (consensus verified against the
// pinned key, three hops, the request through them) and reports failures as one line.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type ListedRelay, generateEd25519, serializeConsensus, signConsensusText, toBase64Url } from "@shallot/protocol";
import { consensusDocument, networkArgs } from "./network.ts";
import { type Origin, freePort, startOrigin } from "./origin.ts";

const mesh = inject("mesh");
const ROOT = resolve(import.meta.dirname, "../..");
const BIN = join(ROOT, "packages/client/bin/onion.mjs");
const network = networkArgs(mesh);

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs `onion …` as a user would (same Node, stdin a pipe, stdout and stderr not terminals). */
function onion(args: string[], options: { input?: string | Buffer; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
    const stdout: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.once("error", reject);
    child.once("close", (code) => resolvePromise({ code, stdout: Buffer.concat(stdout), stderr }));
    child.stdin.end(options.input ?? "");
  });
}

/** A failure is exactly one line, `onion: …`, and never a stack trace. */
function expectOneLineError(run: Run, pattern: RegExp) {
  expect(run.code).not.toBe(0);
  expect(run.stdout.length).toBe(0);
  expect(run.stderr).toMatch(/^onion: [^\n]+\n$/);
  expect(run.stderr).not.toMatch(/\n\s+at /);
  expect(run.stderr).toMatch(pattern);
}

const consensus = () => consensusDocument(mesh);

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Three authorities of our own, signing with keys of our own: they serve whatever relays a test wants. */
async function startFakeAuthorities() {
  const keys = await Promise.all([1, 2, 3].map(() => generateEd25519()));
  let relays: ListedRelay[] = [];
  const server = createServer(async (_request, response) => {
    const now = Date.now();
    const text = serializeConsensus({ version: 2, published: now, validUntil: now + 30_000, voters: [], relays });
    const signatures = await Promise.all(keys.map((key) => signConsensusText(text, toBase64Url(key.publicKey), key.privateKey)));
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ document: text, signatures }));
  });
  const url = await listen(server);
  return {
    args: [...keys.flatMap((key, i) => ["--authority", `${toBase64Url(key.publicKey)}@${url}/a${i + 1}`]), "--family-rule", "off", "--state-dir", join(scratch, "fake-state")],
    setRelays: (list: ListedRelay[]) => void (relays = list),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/**
 * A relay that lets its first cell through to the real relay behind it, then drops the connection
 * on every later one: it vanishes in the middle of a circuit.
 */
async function startDroppingRelay(real: ListedRelay) {
  let cells = 0;
  const server = createServer((request, response) => {
    cells++;
    if (cells > 1) return request.socket.destroy();
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const headers = { "content-type": "application/octet-stream", ...(request.headers["onion-neighbour"] ? { "onion-neighbour": String(request.headers["onion-neighbour"]) } : {}) };
      const forward = httpRequest(`${real.address}/cell`, { method: "POST", headers }, (answer) => {
        response.writeHead(answer.statusCode ?? 502, { "content-type": String(answer.headers["content-type"] ?? "application/octet-stream") });
        answer.pipe(response);
      });
      forward.on("error", () => response.destroy());
      forward.end(Buffer.concat(chunks));
    });
  });
  const url = await listen(server);
  return { descriptor: { ...real, address: `${url}/relays/${real.id}` }, cells: () => cells, close: () => new Promise<void>((r) => server.close(() => r())) };
}

let origin: Origin;
let scratch: string;

beforeAll(async () => {
  origin = await startOrigin();
  scratch = mkdtempSync(join(tmpdir(), "onion-cli-"));
});

afterAll(async () => {
  await origin?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("onion fetch", () => {
  it("GETs through its own circuit: stdout is exactly the origin's body, headers reach the origin, stderr stays quiet", async () => {
    const body = randomBytes(64 * 1024);
    origin.answer = { status: 200, headers: { "content-type": "application/octet-stream" }, body };
    const before = origin.received.length;
    const run = await onion(["fetch", ...network, "-H", "Authorization: Bearer sent", "-H", "X-Forwarded-For: 10.1.2.3", `${origin.url}/file?x=1`]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout.equals(body)).toBe(true);
    const seen = origin.received[before]!;
    expect(seen).toMatchObject({ method: "GET", url: "/file?x=1" });
    expect(seen.headers.authorization).toBe("Bearer sent");
    // Identifying headers never cross the circuit.
    expect(seen.headers["x-forwarded-for"]).toBeUndefined();
  });

  it("POSTs a binary file with --data-binary @FILE byte for byte, and writes the origin's answer byte for byte", async () => {
    const sent = randomBytes(300 * 1024);
    const answer = randomBytes(200 * 1024);
    const file = join(scratch, "upload.bin");
    writeFileSync(file, sent);
    origin.answer = { status: 201, headers: { "content-type": "application/octet-stream" }, body: answer };
    const before = origin.received.length;
    const run = await onion(["fetch", ...network, "--data-binary", `@${file}`, "-H", "Content-Type: application/octet-stream", `${origin.url}/upload`]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const seen = origin.received[before]!;
    expect(seen.method).toBe("POST");
    expect(seen.headers["content-type"]).toBe("application/octet-stream");
    expect(seen.body.equals(sent)).toBe(true);
    expect(run.stdout.equals(answer)).toBe(true);
  });

  it("sends -d as a form and -X PUT with the body read from stdin (@-)", async () => {
    origin.answer = { status: 200, headers: { "content-type": "text/plain" }, body: Buffer.from("ok") };
    let before = origin.received.length;
    expect((await onion(["fetch", ...network, "-d", "a=1", "-d", "b=two", `${origin.url}/form`])).code).toBe(0);
    expect(origin.received[before]).toMatchObject({ method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" } });
    expect(origin.received[before]!.body.toString()).toBe("a=1&b=two");
    before = origin.received.length;
    const run = await onion(["fetch", ...network, "-X", "PUT", "--data-binary", "@-", `${origin.url}/put`], { input: "from stdin\n" });
    expect(run.code).toBe(0);
    expect(run.stdout.toString()).toBe("ok");
    expect(origin.received[before]).toMatchObject({ method: "PUT" });
    expect(origin.received[before]!.body.toString()).toBe("from stdin\n");
  });

  it("-i prints the status line and the origin's headers, a blank line, then the body", async () => {
    origin.answer = { status: 201, headers: { "content-type": "text/plain", "x-origin-header": "kept" }, body: Buffer.from("created\r\n\r\nbody") };
    const run = await onion(["fetch", ...network, "-i", `${origin.url}/made`]);
    expect(run.code).toBe(0);
    const text = run.stdout.toString();
    const split = text.indexOf("\r\n\r\n");
    const [statusLine, ...headerLines] = text.slice(0, split).split("\r\n");
    expect(statusLine).toBe("HTTP/1.1 201 Created");
    expect(headerLines).toContain("x-origin-header: kept");
    expect(headerLines).toContain("content-type: text/plain");
    expect(text.slice(split + 4)).toBe("created\r\n\r\nbody");
  });

  it("-I sends HEAD and prints only the head; -f exits 22 on an HTTP error", async () => {
    origin.answer = { status: 200, headers: { "content-type": "text/plain", "x-head": "yes" }, body: Buffer.from("never printed") };
    const before = origin.received.length;
    const head = await onion(["fetch", ...network, "-I", `${origin.url}/h`]);
    expect(head.code).toBe(0);
    expect(origin.received[before]!.method).toBe("HEAD");
    expect(head.stdout.toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*x-head: yes\r\n\r\n$/);

    origin.answer = { status: 404, headers: { "content-type": "text/plain" }, body: Buffer.from("missing") };
    const plain = await onion(["fetch", ...network, `${origin.url}/gone`]);
    expect(plain.code).toBe(0);
    expect(plain.stdout.toString()).toBe("missing");
    const failed = await onion(["fetch", ...network, "-f", `${origin.url}/gone`]);
    expect(failed.code).toBe(22);
    expect(failed.stdout.length).toBe(0);
    expect(failed.stderr).toBe("onion: the origin answered 404 Not Found\n");
  });

  it("-v shows the circuit being built, hop by hop, on stderr", async () => {
    origin.answer = { status: 200, headers: { "content-type": "text/plain" }, body: Buffer.from("verbose") };
    const run = await onion(["fetch", ...network, "-v", `${origin.url}/v`]);
    expect(run.code).toBe(0);
    expect(run.stdout.toString()).toBe("verbose");
    expect(run.stderr).toMatch(/^\* consensus: \d+ relays, published .+, signed by [23] of 3 authorities$/m);
    expect(run.stderr).toMatch(/^\* building a circuit through 3 relays, entering through guard [0-9a-f]{16}$/m);
    expect(run.stderr).toMatch(/^\* hop 1\/3 entry  [0-9a-f]{16} .+ \[[A-Za-z ]*Running[A-Za-z ]*\]  handshake [\d.]+ ms$/m);
    expect(run.stderr).toMatch(/^\* hop 2\/3 middle [0-9a-f]{16} /m);
    expect(run.stderr).toMatch(/^\* hop 3\/3 exit   [0-9a-f]{16} /m);
    expect(run.stderr).toMatch(/circuit destroyed/);
  });

  it("an exit failure (nothing listens at the destination) is one line and exit status 1", async () => {
    const run = await onion(["fetch", ...network, `http://127.0.0.1:${await freePort()}/`]);
    expectOneLineError(run, /^onion: The exit could not complete the request \(exit_fetch_failed\)/);
    expect(run.code).toBe(1);
  });
});

describe("onion fetch refuses bad input with one line", () => {
  it("no authority reachable: each is named", async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const args = mesh.authorities.flatMap((a, i) => ["--authority", `${a.key}@http://127.0.0.1:${ports[i]}`]);
    const run = await onion(["fetch", ...args, `${origin.url}/`]);
    expectOneLineError(run, new RegExp(`^onion: No directory authority could be reached: ${ports.map((port) => `http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`).join(", ")}\\.`));
    expect(run.code).toBe(1);
  });

  it("a consensus not signed by the pinned authority keys is never used", async () => {
    const wrong = await Promise.all(mesh.authorities.map(async (a) => `${toBase64Url((await generateEd25519()).publicKey)}@${a.url}`));
    const before = origin.received.length;
    const run = await onion(["fetch", ...wrong.map((entry) => `--authority=${entry}`), "--state-dir", join(scratch, "wrong-state"), `${origin.url}/`]);
    expectOneLineError(run, /^onion: No consensus the authorities served is signed by more than half \(2\) of the 3 pinned authorities \(from --authority\): .*from 0 of the 3.* It was not used\.\n$/);
    expect(origin.received.length).toBe(before);
  });

  it("SHALLOT_AUTHORITIES and SHALLOT_FAMILY_RULE stand in for the flags", async () => {
    origin.answer = { status: 200, headers: { "content-type": "text/plain" }, body: Buffer.from("from env") };
    const env = { SHALLOT_AUTHORITIES: mesh.authorities.map((a) => `${a.key}@${a.url}`).join(" "), SHALLOT_FAMILY_RULE: "off", SHALLOT_STATE_DIR: join(scratch, "env-state") };
    const run = await onion(["fetch", `${origin.url}/env`], { env });
    expect(run.code).toBe(0);
    expect(run.stdout.toString()).toBe("from env");
  });

  it("malformed URLs, methods, headers and keys are usage errors (exit status 2), before any network use", async () => {
    const cases: [string[], RegExp][] = [
      [["example.com"], /^onion: 'example\.com' is not an absolute http\(s\) URL: it needs a scheme/],
      [["ftp://example.com/"], /only http:\/\/ and https:\/\/ URLs can be fetched/],
      [["-X", "TRACE", `${origin.url}/`], /the method TRACE cannot go through a circuit/],
      [["-H", "no colon", `${origin.url}/`], /header 'no colon' is not 'Name: value'/],
      [["--data-binary", `@${join(scratch, "absent.bin")}`, `${origin.url}/`], /cannot read '.+absent\.bin': no such file/],
      [["--nope", `${origin.url}/`], /Unknown option '--nope' \(see 'onion fetch --help'\)/],
    ];
    for (const [args, pattern] of cases) {
      const run = await onion(["fetch", ...network, ...args]);
      expectOneLineError(run, pattern);
      expect(run.code, args.join(" ")).toBe(2);
    }
    const badKey = await onion(["fetch", "--authority", `not-a-key@${mesh.urls.directory}`, `${origin.url}/`]);
    expectOneLineError(badKey, /not an Ed25519 public key/);
    expect(badKey.code).toBe(2);
  });

  it("fewer than 3 relays in the consensus", async () => {
    const directory = await startFakeAuthorities();
    try {
      directory.setRelays((await consensus()).relays.slice(0, 2));
      const run = await onion(["fetch", ...directory.args, `${origin.url}/`]);
      expectOneLineError(run, /^onion: A circuit needs 3 distinct relays; the consensus has 2 usable\.\n$/);
    } finally {
      await directory.close();
    }
  });

  it("a relay that drops the connection in the middle of the circuit", async () => {
    const directory = await startFakeAuthorities();
    const [first, second, third] = (await consensus()).relays;
    const dropping = await startDroppingRelay(third!);
    try {
      // Whatever position it gets (entry, middle or exit), it is gone by the time it is needed again.
      directory.setRelays([first!, second!, dropping.descriptor]);
      const before = origin.received.length;
      const run = await onion(["fetch", ...directory.args, `${origin.url}/`]);
      expectOneLineError(run, /^onion: The circuit failed/);
      expect(run.code).toBe(1);
      expect(dropping.cells()).toBeGreaterThanOrEqual(2);
      expect(origin.received.length).toBe(before);
    } finally {
      await dropping.close();
      await directory.close();
    }
  });
});

describe("onion circuit", () => {
  it("shows which authorities signed the consensus, the relays' flags, its guards, and three hops with their flags and handshake times", async () => {
    const live = await consensus();
    const run = await onion(["circuit", ...network]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const text = run.stdout.toString();
    expect(text).toMatch(/^authorities 3 pinned \(from --authority\); consensus from http:\/\/127\.0\.0\.1:\d+$/m);
    for (const authority of mesh.authorities) expect(text).toMatch(new RegExp(`^  ${authority.url}  ${authority.key}  (signed|no valid signature)$`, "m"));
    expect(text).toMatch(/^signatures  [23] of 3 valid \(more than half, 2, needed\)$/m);
    expect(text).toMatch(/^relays      \d+$/m);
    for (const relay of live.relays) expect(text).toContain(`  ${relay.id.slice(0, 16)}  ${relay.address}  [`);
    expect(text).toMatch(/^guards      [0-9a-f]{16}.*\(kept in .+guards-[0-9a-f]{16}\.json\)$/m);
    const hops = [...text.matchAll(/^ {2}hop (\d)\/3 (entry |middle|exit  ) ([0-9a-f]{16})  (\S+)  \[([A-Za-z ]*)\]  handshake ([\d.]+) ms$/gm)];
    expect(hops.map((hop) => [hop[1], hop[2]!.trim()])).toEqual([["1", "entry"], ["2", "middle"], ["3", "exit"]]);
    const ids = hops.map((hop) => hop[3]!);
    expect(new Set(ids).size).toBe(3);
    for (const hop of hops) {
      const relay = live.relays.find((r) => r.id.startsWith(hop[3]!));
      expect(relay?.address).toBe(hop[4]);
      expect(hop[5]!.split(" ")).toContain("Running");
      expect(Number(hop[6])).toBeGreaterThan(0);
    }
    // The exit carries the Exit flag; the entry is the first guard that is not down (other test
    // files retire relays, a guard among them perhaps).
    expect(hops[2]![5]!.split(" ")).toContain("Exit");
    const guards = /^guards {6}(.*) {2}\(kept in/m.exec(text)![1]!.split(", ");
    expect(guards.find((guard) => !guard.endsWith("(down)"))).toBe(hops[0]![3]);
    expect(text).toMatch(/built in [\d.]+ ms; destroyed\n$/);
  });

  it("keeps its guards across runs: every run enters through the same guard, kept in the state directory", async () => {
    const stateDir = join(scratch, "guards-across-runs");
    const args = networkArgs(mesh, stateDir);
    const entries: string[] = [];
    for (let run = 0; run < 4; run++) {
      const out = (await onion(["circuit", ...args])).stdout.toString();
      entries.push(/^ {2}hop 1\/3 entry  ([0-9a-f]{16})/m.exec(out)![1]!);
    }
    expect(new Set(entries).size).toBe(1);
    // Each fetch too.
    origin.answer = { status: 200, headers: { "content-type": "text/plain" }, body: Buffer.from("guarded") };
    const verbose = await onion(["fetch", ...args, "-v", `${origin.url}/guarded`]);
    expect(verbose.stderr).toContain(`entering through guard ${entries[0]}`);
    // Elsewhere (another state directory), runs draw their own guards: four fresh directories all
    // drawing this one guard among the mesh's relays is unlikely (below 1 in 1000).
    const elsewhere = new Set<string>();
    for (let run = 0; run < 4; run++) {
      const out = (await onion(["circuit", ...networkArgs(mesh, join(scratch, `fresh-${run}`))])).stdout.toString();
      elsewhere.add(/^ {2}hop 1\/3 entry  ([0-9a-f]{16})/m.exec(out)![1]!);
    }
    expect([...elsewhere].some((id) => id !== entries[0])).toBe(true);
  });

  it("--help works for every command", async () => {
    for (const command of [[], ["fetch"], ["circuit"], ["proxy"], ["register"], ["login"]]) {
      const run = await onion([...command, "--help"]);
      expect(run.code, command.join(" ")).toBe(0);
      expect(run.stdout.toString()).toMatch(/^(onion|Usage: onion)/);
    }
  });
});

describe("onion register / login through a circuit", () => {
  const auth = ["--server", mesh.urls.auth, "--server-key", mesh.authKey];
  const me = async (token: string) => {
    const response = await fetch(`${mesh.urls.auth}/me`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, body: await response.json() };
  };

  it("registers with SCRAM-SHA-256 (the default), logs in, and the token works", async () => {
    const username = `cli-scram-${randomBytes(4).toString("hex")}`;
    const registered = await onion(["register", ...network, ...auth, "--password-stdin", username], { input: "correct horse battery\n" });
    expect(registered.stderr).toBe("");
    expect(registered.code).toBe(0);
    expect(registered.stdout.toString()).toBe(`registered ${username} (scram-sha-256) at ${mesh.urls.auth}\n`);

    const login = await onion(["login", ...network, ...auth, "--password-stdin", username], { input: "correct horse battery\n" });
    expect(login.stderr).toBe("");
    expect(login.code).toBe(0);
    const token = login.stdout.toString().trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await me(token)).toEqual({ status: 200, body: { username, mechanism: "scram-sha-256" } });
  });

  it("registers with the seed's scheme and logs in only when --mechanism names it", async () => {
    const username = `cli-sha512-${randomBytes(4).toString("hex")}`;
    expect((await onion(["register", ...network, ...auth, "--mechanism", "sha512", "--password-stdin", username], { input: "pw" })).code).toBe(0);
    const pinned = await onion(["login", ...network, ...auth, "--password-stdin", username], { input: "pw" });
    expectOneLineError(pinned, /^onion: The server asked for sha512, not the expected scram-sha-256/);
    const login = await onion(["login", ...network, ...auth, "--mechanism", "sha512", "--password-stdin", username], { input: "pw" });
    expect(login.code).toBe(0);
    expect(await me(login.stdout.toString().trim())).toEqual({ status: 200, body: { username, mechanism: "sha512" } });
  });

  it("a wrong password, a taken name and a missing --password-stdin are one-line errors", async () => {
    const username = `cli-wrong-${randomBytes(4).toString("hex")}`;
    expect((await onion(["register", ...network, ...auth, "--password-stdin", username], { input: "right" })).code).toBe(0);
    const wrong = await onion(["login", ...network, ...auth, "--password-stdin", username], { input: "wrong" });
    expectOneLineError(wrong, /^onion: login refused by the auth server \(401 invalid_credentials\)/);
    const taken = await onion(["register", ...network, ...auth, "--password-stdin", username], { input: "right" });
    expectOneLineError(taken, /^onion: registration refused by the auth server \(409 user_exists\)/);
    const noPassword = await onion(["login", ...network, ...auth, username]);
    expectOneLineError(noPassword, /stdin is not a terminal: pipe the password in and pass --password-stdin/);
    expect(noPassword.code).toBe(2);
  });
});
