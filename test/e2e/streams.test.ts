// Streams end to end on the mesh: `onion proxy` (CONNECT and SOCKS5) driven by the real curl and
// by raw sockets, `onion fetch https://` with TLS run on this machine, against local origins (an
// HTTPS server whose CA this file makes, TCP servers that close, flood or watch). What the exit
// can see is checked at the bytes: a TCP recorder in front of the HTTPS origin, the client's
// WebSocket frames to its entry, and the workers' log.

import { type ChildProcessWithoutNullStreams, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { type Socket, connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { networkArgs } from "./network.ts";
import { REFUSED_PORT, freePort } from "./origin.ts";
import { type TcpServer, type TestCa, type TlsOrigin, flood, newTestCa, pattern, sha256, startTcpRecorder, startTcpServer, startTlsFront, startTlsOrigin } from "./tls-origin.ts";
import { resolveNetwork } from "../../packages/client/src/directory.ts";
import { cliOnionProxy } from "../../packages/client/src/onion-proxy.ts";
import { silentProgress } from "../../packages/client/src/output.ts";
import { StreamAgent, openTlsStream, sendHttps } from "../../packages/client/src/streams/https.ts";
import { trustContext } from "../../packages/client/src/streams/tls.ts";
import { httpTransport, linkTransport } from "../../packages/client/src/transport.ts";

const mesh = inject("mesh");
const ROOT = resolve(import.meta.dirname, "../..");

const BIN = join(ROOT, "packages/client/bin/onion.mjs");
const network = networkArgs(mesh);

interface Proxy {
  http: string;
  socks: string;
  stderr: () => string;
  /** Circuits this proxy has built so far (its -v progress says so for each). */
  builds: () => number;
  stop(): Promise<number | null>;
}

/** `onion proxy -v --port P --socks-port Q`, resolved once both listen. */
async function startProxy(): Promise<Proxy> {
  const [port, socksPort] = [await freePort(), await freePort()];
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [BIN, "proxy", "-v", "--port", String(port), "--socks-port", String(socksPort), ...network], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  await new Promise<void>((resolvePromise, reject) => {
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      if (stdout.includes(`listening on http://127.0.0.1:${port} `) && stdout.includes(`listening on socks5h://127.0.0.1:${socksPort} `)) resolvePromise();
    });
    child.once("exit", (code) => reject(new Error(`onion proxy exited (${code}): ${stderr}`)));
  });
  return {
    http: `http://127.0.0.1:${port}`,
    socks: `127.0.0.1:${socksPort}`,
    stderr: () => stderr,
    builds: () => stderr.split("\n").filter((line) => line.includes("building a circuit")).length,
    stop: () =>
      new Promise((resolvePromise) => {
        if (child.exitCode !== null) return resolvePromise(child.exitCode);
        child.once("exit", (code) => resolvePromise(code));
        child.kill("SIGTERM");
      }),
  };
}

interface Run {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** The largest buffer Linux gives one TCP socket for `name` (tcp_rmem or tcp_wmem, their third field). */
function kernelMaximum(name: "tcp_rmem" | "tcp_wmem"): number {
  return Number(readFileSync(`/proc/sys/net/ipv4/${name}`, "utf8").trim().split(/\s+/)[2]);
}

/** Longer than any command here takes (seconds at most); a command still running then is killed. */
const RUN_LIMIT_MS = 20_000;

function run(command: string, args: string[], env: Record<string, string> = {}, input = ""): Promise<Run> {
  return new Promise((resolvePromise) => {
    const child = execFile(command, args, { cwd: ROOT, encoding: "buffer", maxBuffer: 32 * 1024 * 1024, env: { ...process.env, ...env }, timeout: RUN_LIMIT_MS, killSignal: "SIGKILL" }, (error, stdout, stderr) => {
      // A hung command fails its test with what it had printed, not the test's own timeout with nothing.
      if (error?.killed) return resolvePromise({ code: -1, stdout, stderr: `${stderr.toString()}[still running after ${RUN_LIMIT_MS} ms: killed]` });
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolvePromise({ code, stdout, stderr: stderr.toString() });
    });
    child.stdin!.end(input);
  });
}
const curl = (args: string[], env?: Record<string, string>) => run("curl", ["-sS", ...args], env);
const onion = (args: string[], input?: string) => run(process.execPath, [BIN, ...args], {}, input);

/** A SOCKS5 handshake by hand (RFC 1928/1929): resolves with the socket and the reply code. */
async function socks5(proxy: string, host: string, port: number, credentials?: { username: string; password: string }): Promise<{ socket: Socket; reply: number }> {
  const [proxyHost, proxyPort] = proxy.split(":");
  const socket = connect(Number(proxyPort), proxyHost);
  let buffered = Buffer.alloc(0);
  let wake: (() => void) | null = null;
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    wake?.();
  };
  socket.on("data", onData);
  socket.on("error", () => {});
  socket.on("close", () => wake?.());
  const take = async (n: number) => {
    while (buffered.length < n) {
      if (socket.destroyed || socket.readableEnded) throw new Error(`the SOCKS server closed after ${buffered.length} bytes`);
      await new Promise<void>((r) => (wake = r));
    }
    const out = buffered.subarray(0, n);
    buffered = buffered.subarray(n);
    return out;
  };
  await new Promise<void>((r) => socket.once("connect", () => r()));
  socket.write(Buffer.from(credentials ? [5, 1, 2] : [5, 1, 0]));
  const [, method] = await take(2);
  if (credentials) {
    expect(method).toBe(2);
    const user = Buffer.from(credentials.username);
    const pass = Buffer.from(credentials.password);
    socket.write(Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([pass.length]), pass]));
    expect([...(await take(2))]).toEqual([1, 0]);
  } else expect(method).toBe(0);
  const name = Buffer.from(host);
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  socket.write(Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, portBytes]));
  const reply = await take(10);
  socket.off("data", onData);
  socket.pause();
  if (buffered.length > 0) socket.unshift(buffered);
  return { socket, reply: reply[1]! };
}

/** CONNECT by hand: resolves with the socket and the proxy's answer head (and body, when refused). */
function connectTunnel(proxy: string, authority: string): Promise<{ socket: Socket; status: number; head: string; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const request = httpRequest(proxy, { method: "CONNECT", path: authority, headers: { host: authority } });
    request.once("connect", (response, socket, early: Buffer) => {
      const head = Object.entries(response.headers).map(([name, value]) => `${name}: ${value}`).join("\n");
      if (early.length > 0) socket.unshift(early);
      if (response.statusCode === 200) return resolvePromise({ socket, status: 200, head, body: "" });
      let body = "";
      socket.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      socket.on("end", () => resolvePromise({ socket, status: response.statusCode!, head, body }));
    });
    request.once("error", reject);
    request.end();
  });
}

/** Reads until the socket ends (within 10 s); resolves with every byte. */
const readToEnd = (socket: Socket): Promise<Buffer> =>
  new Promise((resolvePromise, reject) => {
    setTimeout(() => reject(new Error("the connection did not end within 10 s")), 10_000).unref();
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.once("end", () => resolvePromise(Buffer.concat(chunks)));
    socket.once("error", reject);
    socket.resume();
  });

const waitFor = async (check: () => boolean, timeoutMs: number, what: string) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

let ca: TestCa;
let stranger: TestCa;
let origin: TlsOrigin;
let wrongName: TlsOrigin;
let untrusted: TlsOrigin;
let proxy: Proxy;
let scratch: string;
const https = (path: string, port = origin.port) => `https://localhost:${port}${path}`;

beforeAll(async () => {
  ca = newTestCa();
  stranger = newTestCa("A CA nobody trusts");
  origin = await startTlsOrigin(ca.issue({ dns: ["localhost"], ip: ["127.0.0.1"] }));
  wrongName = await startTlsOrigin(ca.issue({ dns: ["elsewhere.test"] }));
  untrusted = await startTlsOrigin(stranger.issue({ dns: ["localhost"] }));
  scratch = mkdtempSync(join(tmpdir(), "onion-streams-"));
  proxy = await startProxy();
});

afterAll(async () => {
  await proxy?.stop();
  for (const server of [origin, wrongName, untrusted]) await server?.close();
  ca?.dispose();
  stranger?.dispose();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("HTTPS end to end through onion proxy", () => {
  it("carries curl -x (CONNECT) and HTTPS_PROXY: TLS between curl and the origin, the circuit named on the 200", async () => {
    const before = origin.received.length;
    const result = await curl(["-i", "--cacert", ca.caFile, "-x", proxy.http, "-H", "Authorization: Bearer end-to-end", https("/small?via=connect")]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const output = result.stdout.toString();
    // curl prints the proxy's answer to CONNECT, then the origin's.
    expect(output).toMatch(/^HTTP\/1\.1 200 Connection Established\r\nonion-circuit: [0-9a-f]+,[0-9a-f]+,[0-9a-f]+\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(output.endsWith("\r\n\r\nhello over TLS")).toBe(true);
    // Every header reaches the origin: no exit reads them, so none is dropped.
    expect(origin.received[before]).toMatchObject({ method: "GET", url: "/small?via=connect", headers: { authorization: "Bearer end-to-end" } });

    const viaEnv = await curl(["--cacert", ca.caFile, https("/small?via=env")], { HTTPS_PROXY: proxy.http, NO_PROXY: "" });
    expect(viaEnv.code).toBe(0);
    expect(viaEnv.stdout.toString()).toBe("hello over TLS");
    expect(origin.received.at(-1)!.url).toBe("/small?via=env");
  });

  it("carries curl --socks5-hostname: the name goes to the exit unresolved", async () => {
    const before = origin.received.length;
    const result = await curl(["--cacert", ca.caFile, "--socks5-hostname", proxy.socks, https("/small?via=socks")]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout.toString()).toBe("hello over TLS");
    expect(origin.received[before]!.url).toBe("/small?via=socks");
    // The proxy opened the stream to the name as given: the exit resolved it.
    expect(proxy.stderr()).toContain(`SOCKS localhost:${origin.port} → reply 0`);
  });

  it("downloads 10 MiB byte for byte through the SOCKS port", async () => {
    const result = await curl(["--cacert", ca.caFile, "--socks5-hostname", proxy.socks, https("/big")]);
    expect(result.code).toBe(0);
    expect(result.stdout.length).toBe(origin.big.length);
    expect(sha256(result.stdout)).toBe(sha256(origin.big));
  });
});

describe("onion fetch https://", () => {
  it("runs TLS here over a stream and verifies the certificate against --cacert", async () => {
    const before = origin.received.length;
    const file = join(scratch, "big.bin");
    const result = await onion(["fetch", ...network, "--cacert", ca.caFile, "-H", "X-Not-Forwarded-By-Exits: kept", "-o", file, https("/big")]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(sha256(readFileSync(file))).toBe(sha256(origin.big));
    // The request went over TLS from this machine: headers exits never forward arrive too.
    expect(origin.received[before]).toMatchObject({ method: "GET", url: "/big", headers: { "x-not-forwarded-by-exits": "kept" } });

    const posted = await onion(["fetch", ...network, "--cacert", ca.caFile, "-i", "-d", "a=1", https("/form")]);
    expect(posted.code).toBe(0);
    expect(posted.stdout.toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/);
    expect(origin.received.at(-1)).toMatchObject({ method: "POST", url: "/form", body: Buffer.from("a=1") });
  });

  it("refuses a certificate from a CA it does not trust, and one for another name: nothing is sent", async () => {
    const before = { untrusted: untrusted.received.length, wrongName: wrongName.received.length, origin: origin.received.length };
    // The system's store does not know the test's CA.
    const unknownCa = await onion(["fetch", ...network, https("/small")]);
    expect(unknownCa.code).toBe(1);
    expect(unknownCa.stderr).toMatch(/^onion: the certificate of localhost does not verify \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)[^\n]*\n$/);
    const otherCa = await onion(["fetch", ...network, "--cacert", ca.caFile, https("/small", untrusted.port)]);
    expect(otherCa.code).toBe(1);
    expect(otherCa.stderr).toMatch(/^onion: the certificate of localhost does not verify/);
    const otherName = await onion(["fetch", ...network, "--cacert", ca.caFile, https("/small", wrongName.port)]);
    expect(otherName.code).toBe(1);
    expect(otherName.stderr).toMatch(/^onion: the certificate of localhost does not verify \(ERR_TLS_CERT_ALTNAME_INVALID\)/);
    expect(untrusted.connections + wrongName.connections).toBeGreaterThanOrEqual(2);
    expect({ untrusted: untrusted.received.length, wrongName: wrongName.received.length, origin: origin.received.length }).toEqual(before);
  });
});

describe("onion register and login against an https:// auth server", () => {
  it("go over a stream: TLS from the CLI to the server, the sealed messages inside", async () => {
    const front = await startTlsFront(ca.issue({ dns: ["localhost"] }), mesh.urls.auth);
    try {
      const username = `streamer-${randomBytes(6).toString("hex")}`;
      const server = ["--server", `https://localhost:${front.port}`, "--server-key", mesh.authKey];
      const registered = await onion(["register", ...network, ...server, "--cacert", ca.caFile, "--password-stdin", username], "a password over TLS\n");
      expect(registered.stderr).toBe("");
      expect(registered.stdout.toString()).toBe(`registered ${username} (scram-sha-256) at https://localhost:${front.port}\n`);
      const login = await onion(["login", ...network, ...server, "--cacert", ca.caFile, "--password-stdin", username], "a password over TLS\n");
      expect(login.code).toBe(0);
      const token = login.stdout.toString().trim();
      expect(await (await fetch(`${mesh.urls.auth}/me`, { headers: { authorization: `Bearer ${token}` } })).json()).toEqual({ username, mechanism: "scram-sha-256" });
      // Each command's POSTs shared one kept-alive TLS connection: register one POST, login two (challenge, login).
      expect(front.seen).toEqual(["POST /ohttp", "POST /ohttp", "POST /ohttp"]);
      expect(front.connections).toBe(2);
      // Without the CA, the CLI refuses the server before sending anything.
      const refused = await onion(["login", ...network, ...server, "--password-stdin", username], "a password over TLS\n");
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^onion: the certificate of localhost does not verify/);
      expect(front.seen).toHaveLength(3);
    } finally {
      await front.close();
    }
  });
});

describe("streams on circuits", () => {
  it("carries 20 concurrent streams on one circuit", async () => {
    const fresh = await startProxy();
    try {
      const tunnels = await Promise.all(Array.from({ length: 20 }, () => connectTunnel(fresh.http, `localhost:${origin.port}`)));
      expect(tunnels.map((tunnel) => tunnel.status)).toEqual(Array(20).fill(200));
      // The origin answers only once all 20 requests are held open together.
      const answers = await Promise.all(
        tunnels.map(
          ({ socket }) =>
            new Promise<string>((resolvePromise, reject) => {
              const secure = tlsConnect({ socket, servername: "localhost", ca: ca.ca });
              let text = "";
              secure.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
              secure.once("end", () => resolvePromise(text));
              secure.once("error", reject);
              secure.write("GET /hold?n=20 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            }),
        ),
      );
      for (const answer of answers) expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*held together$/);
      const circuits = new Set(tunnels.map((tunnel) => /onion-circuit: (\S+)/.exec(tunnel.head)?.[1]));
      expect(circuits.size).toBe(1);
      expect([...circuits][0]).toMatch(/^[0-9a-f]+,[0-9a-f]+,[0-9a-f]+$/);
      expect(fresh.builds()).toBe(1);
    } finally {
      await fresh.stop();
    }
  });

  it("gives streams of different SOCKS user names different circuits, and one user's streams one circuit", async () => {
    const fresh = await startProxy();
    try {
      const as = async (user: string) => curl(["--cacert", ca.caFile, "-x", `socks5h://${user}:secret@${fresh.socks}`, https(`/small?user=${user}`)]);
      expect((await as("alice")).stdout.toString()).toBe("hello over TLS");
      expect(fresh.builds()).toBe(1);
      expect((await as("alice")).stdout.toString()).toBe("hello over TLS");
      expect(fresh.builds()).toBe(1);
      expect((await as("bob")).stdout.toString()).toBe("hello over TLS");
      expect(fresh.builds()).toBe(2);
      // No credentials at all is one more identity.
      expect((await curl(["--cacert", ca.caFile, "--socks5-hostname", fresh.socks, https("/small")])).code).toBe(0);
      expect(fresh.builds()).toBe(3);
    } finally {
      await fresh.stop();
    }
  });

  it("refuses a port outside the exit policy: SOCKS5 reply 2, CONNECT 403 destination_refused as JSON", async () => {
    const { socket, reply } = await socks5(proxy.socks, "localhost", REFUSED_PORT);
    expect(reply).toBe(0x02);
    socket.destroy();
    const refused = await connectTunnel(proxy.http, `localhost:${REFUSED_PORT}`);
    expect(refused.status).toBe(403);
    expect(refused.head).toContain("content-type: application/json");
    expect(JSON.parse(refused.body)).toEqual({ error: "destination_refused", message: `The exit did not open a connection to localhost:${REFUSED_PORT}: the exit policy refuses this host or port.` });
    // curl reports the proxy's refusal.
    const viaCurl = await curl(["-x", proxy.http, `https://localhost:${REFUSED_PORT}/`]);
    expect(viaCurl.code).toBe(56);
    expect(viaCurl.stderr).toMatch(/403/);

    // A port nobody listens on: the destination refused (SOCKS5 reply 5, CONNECT 502).
    const closed = await freePort();
    expect((await socks5(proxy.socks, "127.0.0.1", closed)).reply).toBe(0x05);
    const notListening = await connectTunnel(proxy.http, `127.0.0.1:${closed}`);
    expect(notListening.status).toBe(502);
    expect(JSON.parse(notListening.body).error).toBe("connection_refused");
  });
});

describe("closing", () => {
  let closer: TcpServer;
  let watched: TcpServer;
  const seen: { data: string; closedAt: number | null }[] = [];
  beforeAll(async () => {
    closer = await startTcpServer((socket) => socket.end("bye\n"));
    watched = await startTcpServer((socket) => {
      const entry = { data: "", closedAt: null as number | null };
      seen.push(entry);
      socket.setEncoding("utf8").on("data", (chunk: string) => (entry.data += chunk));
      socket.on("close", () => (entry.closedAt = Date.now()));
    });
  });
  afterAll(async () => {
    await closer?.close();
    await watched?.close();
  });

  it("a server that closes the connection: its last bytes, then the end, reach the program", async () => {
    const { socket, reply } = await socks5(proxy.socks, "127.0.0.1", closer.port);
    expect(reply).toBe(0);
    expect((await readToEnd(socket)).toString()).toBe("bye\n");
    const tunnel = await connectTunnel(proxy.http, `127.0.0.1:${closer.port}`);
    expect((await readToEnd(tunnel.socket)).toString()).toBe("bye\n");
  });

  it("a program that closes the connection (FIN, or a reset): the exit closes its socket to the server", async () => {
    for (const close of [(socket: Socket) => socket.end(), (socket: Socket) => socket.resetAndDestroy()]) {
      const index = seen.length;
      const { socket } = await connectTunnel(proxy.http, `127.0.0.1:${watched.port}`);
      socket.write("hello");
      await waitFor(() => seen[index]?.data === "hello", 10_000, "the server to get the bytes");
      expect(seen[index]!.closedAt).toBe(null);
      close(socket);
      await waitFor(() => seen[index]!.closedAt !== null, 10_000, "the exit to close the server's connection");
    }
  });
});

describe("flow control", () => {
  it("stalls a fast server while the program reads nothing, then carries every byte in order", async () => {
    let written: { flushed: () => number } | null = null;
    const firehose = await startTcpServer((socket) => (written = flood(socket, 1024 * 1024 * 1024)));
    try {
      const { socket, reply } = await socks5(proxy.socks, "127.0.0.1", firehose.port);
      expect(reply).toBe(0);
      await waitFor(() => written !== null, 10_000, "the server's connection");
      // Nobody reads: wait until the server cannot write more for a second.
      let last = -1;
      let stillSince = Date.now();
      const deadline = Date.now() + 20_000;
      while (Date.now() - stillSince < 1_000 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        const now = written!.flushed();
        if (now !== last) {
          last = now;
          stillSince = Date.now();
        }
      }
      const stalledAt = written!.flushed();
      // What the server got out: the kernel's buffers on both sides of each TCP hop (server → exit,
      // onion proxy → program), at most their sysctl maxima, plus the stream's window (2 MiB) and
      // the exit's read; far from the 1 GiB it would write if nothing stopped it. (A fixed 24 MiB
      // bound failed at times: Linux grows a receive buffer up to tcp_rmem's maximum, 32 MiB here,
      // and this run saw 16.6 to 23 MiB.)
      const buffered = 2 * (kernelMaximum("tcp_rmem") + kernelMaximum("tcp_wmem"));
      console.info(`slow reader: the server wrote ${(stalledAt / 1048576).toFixed(1)} MiB before it stalled (bound ${(buffered / 1048576).toFixed(0)} MiB of kernel buffers + 4 MiB)`);
      expect(Date.now() - stillSince).toBeGreaterThanOrEqual(1_000);
      expect(stalledAt).toBeLessThan(buffered + 4 * 1024 * 1024);

      // Reading again: the server goes on, and every byte arrives in order.
      const want = stalledAt + 8 * 1024 * 1024;
      const received = await new Promise<Buffer>((resolvePromise, reject) => {
        const chunks: Buffer[] = [];
        let length = 0;
        socket.on("data", (chunk: Buffer) => {
          chunks.push(chunk);
          length += chunk.length;
          if (length >= want) resolvePromise(Buffer.concat(chunks));
        });
        socket.once("error", reject);
        socket.resume();
      });
      expect(sha256(received.subarray(0, want))).toBe(sha256(pattern(0, want)));
      socket.destroy();
    } finally {
      await firehose.close();
    }
  }, 60_000);
});

describe("what the exit sees of an HTTPS request: the host and port, and ciphertext", () => {
  it("finds a marker sent inside an HTTPS request on no link, at no relay and in no log; only the origin reads it", async () => {
    const MARKER = `mk${randomBytes(12).toString("hex")}`;
    const recorder = await startTcpRecorder(origin.port);
    // The client's link to its entry, frame by frame (WebSocket) and body by body (the POST fallback).
    const frames: Buffer[] = [];
    const links: WebSocket[] = [];
    class RecordingWebSocket extends WebSocket {
      constructor(url: string) {
        super(url);
        links.push(this);
        this.addEventListener("message", (event) => frames.push(Buffer.from(event.data as ArrayBuffer | string)));
      }
      override send(data: Uint8Array) {
        frames.push(Buffer.from(data));
        super.send(data);
      }
    }
    const posts: Buffer[] = [];
    const fallback = httpTransport({
      fetch: async (url, init) => {
        posts.push(Buffer.from(init!.body as Uint8Array));
        const response = await fetch(url, init);
        const body = Buffer.from(await response.arrayBuffer());
        posts.push(body);
        return new Response(body, { status: response.status, headers: response.headers });
      },
    });
    const onionProxy = cliOnionProxy(resolveNetwork({ authorities: mesh.authorities.map((a) => `${a.key}@${a.url}`), familyRule: mesh.familyRule, stateDir: join(mesh.stateDir, "cli-state") }), silentProgress, { transport: linkTransport({ WebSocket: RecordingWebSocket, fallback }) });
    const url = new URL(`https://localhost:${recorder.port}/path-${MARKER}?q=${MARKER}`);
    const agent = new StreamAgent(async () => (await openTlsStream(onionProxy, url, trustContext(ca.caFile))).socket);
    try {
      const before = origin.received.length;
      const answered = await sendHttps(agent, url, { method: "POST", headers: [["authorization", `Bearer ${MARKER}`], ["cookie", `session=${MARKER}`], ["content-type", "text/plain"]], body: Buffer.from(`body ${MARKER}`) }).then(
        async (response) => {
          response.resume();
          await new Promise((r) => response.once("end", r));
          return response.statusCode;
        },
        (error: Error) => error.message,
      );

      // Exit ↔ origin: a TLS handshake naming the host (SNI), then records; never the marker.
      const sent = recorder.toOrigin();
      expect(sent.includes(Buffer.from(MARKER))).toBe(false);
      expect(sent[0]).toBe(0x16);
      expect(sent.includes(Buffer.from("localhost"))).toBe(true);
      expect(recorder.fromOrigin().includes(Buffer.from(MARKER))).toBe(false);
      // Client ↔ entry: cells, carried by the WebSocket link, never show it.
      expect(frames.length).toBeGreaterThan(6);
      // ...and are not deflated on the way (ciphertext does not compress: it would only cost CPU).
      expect(links.map((link) => link.extensions)).toEqual([""]);
      expect(frames.filter((frame) => frame.includes(Buffer.from(MARKER)))).toEqual([]);
      expect(posts.filter((body) => body.includes(Buffer.from(MARKER)))).toEqual([]);
      // The relays' own output does not have it either.
      await new Promise((r) => setTimeout(r, 500));
      expect(readFileSync(mesh.workerLog, "utf8").includes(MARKER)).toBe(false);
      // The origin read it all: the marker did travel, so its absence above means something.
      expect(answered).toBe(200);
      expect(origin.received[before]).toMatchObject({ method: "POST", url: `/path-${MARKER}?q=${MARKER}`, headers: { authorization: `Bearer ${MARKER}`, cookie: `session=${MARKER}` }, body: Buffer.from(`body ${MARKER}`) });
    } finally {
      agent.destroy();
      await onionProxy.close();
      await recorder.close();
    }
  });
});
