// `npm run bench`: starts a private mesh and a loopback origin, then measures
//   - circuit build, twice: as the gateway reports it (Server-Timing), and as a client in this process
//     (the protocol package over real HTTP to the entry) experiences it;
//   - direct GET of the origin, and anonymous GET of the same origin through the gateway's circuit;
//   - anonymous GET on a fresh circuit (onion-new-circuit: 1), i.e. build + request at the gateway;
//   - peak memory of the relay worker's isolate (V8 heap + ArrayBuffers, from its inspector) while an
//     8 MiB POST goes through the gateway and three hops, all of which share that isolate in dev;
//   - streams, through `onion proxy` (a child process, CONNECT) to an HTTPS origin with TCP_NODELAY,
//     each sample paired with a direct connection, interleaved: an HTTPS GET of 1 KiB on a reused
//     circuit with its TCP connect and TLS handshake, a 10 MiB download (MB/s), and the isolate's
//     peak memory while 10 MiB downloads run (one stream, then four at once).
// Prints medians and p95 and writes bench/results.json. Not a test: nothing here asserts.

import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir, cpus } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { Circuit, consensusFromAuthorities, selectPath } from "../packages/protocol/src/index.ts";
import { ROOT, startMesh } from "./mesh.mjs";
import { makeTestCa } from "./test-ca.mjs";

const ROUNDS = {
  build: Number(process.env.BENCH_BUILDS ?? 60),
  get: Number(process.env.BENCH_GETS ?? 200),
  fresh: Number(process.env.BENCH_FRESH ?? 40),
  httpsGet: Number(process.env.BENCH_HTTPS_GETS ?? 200),
  download: Number(process.env.BENCH_DOWNLOADS ?? 6),
};
const WARMUP = 10;

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  return { n: sorted.length, p50: +percentile(sorted, 50).toFixed(2), p95: +percentile(sorted, 95).toFixed(2), min: +sorted[0].toFixed(2) };
}
async function time(fn) {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}
async function measure(rounds, fn) {
  for (let i = 0; i < WARMUP; i++) await fn();
  const samples = [];
  for (let i = 0; i < rounds; i++) samples.push(await time(fn));
  return summarize(samples);
}

/**
 * Runs `work` three times while sampling the isolate's memory through its inspector
 * (Runtime.getHeapUsage: JS heap used + ArrayBuffer backing stores, garbage included).
 */
async function peakMemory(port, work) {
  const [target] = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  // wrangler's inspector proxy wants an Origin it trusts.
  const socket = new WebSocket(target.webSocketDebuggerUrl, { headers: { origin: "http://localhost" } });
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", reject, { once: true });
  });
  let id = 0;
  const pending = new Map();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    pending.get(message.id)?.(message.result);
    pending.delete(message.id);
  });
  const call = (method) => new Promise((resolve) => {
    pending.set(++id, resolve);
    socket.send(JSON.stringify({ id, method }));
  });
  const mib = (usage) => (usage.usedSize + (usage.backingStorageSize ?? 0)) / 1048576;
  let peak = 0;
  let rest = Infinity;
  for (let round = 0; round < 3; round++) {
    await call("HeapProfiler.collectGarbage");
    rest = Math.min(rest, mib(await call("Runtime.getHeapUsage")));
    let running = true;
    const sampler = (async () => {
      while (running) peak = Math.max(peak, mib(await call("Runtime.getHeapUsage")));
    })();
    await work();
    running = false;
    await sampler;
  }
  socket.close();
  return { peakMiB: +peak.toFixed(1), restMiB: +rest.toFixed(1) };
}

/** Reads one HTTP/1.1 response with a content-length off `socket`; resolves with its body's length. */
function readResponse(socket) {
  return new Promise((resolve, reject) => {
    let head = null;
    let buffered = Buffer.alloc(0);
    let need = 0;
    let got = 0;
    socket.on("data", (chunk) => {
      if (head === null) {
        buffered = Buffer.concat([buffered, chunk]);
        const end = buffered.indexOf("\r\n\r\n");
        if (end < 0) return;
        head = buffered.subarray(0, end).toString();
        if (!head.startsWith("HTTP/1.1 200")) return reject(new Error(`answered ${head.split("\r\n")[0]}`));
        need = Number(/content-length: (\d+)/i.exec(head)[1]);
        got = buffered.length - end - 4;
      } else got += chunk.length;
      if (got >= need) resolve(got);
    });
    socket.once("error", reject);
    socket.once("end", () => (got < need ? reject(new Error("closed early")) : undefined));
  });
}

/** A TCP connection to the origin, directly or through CONNECT at `proxy`; resolves once bytes can flow. */
function openTcp(port, proxy) {
  return new Promise((resolve, reject) => {
    if (!proxy) {
      const socket = tcpConnect({ port, host: "127.0.0.1", noDelay: true }, () => resolve(socket));
      socket.once("error", reject);
      return;
    }
    const socket = tcpConnect({ port: proxy, host: "127.0.0.1", noDelay: true }, () => socket.write(`CONNECT localhost:${port} HTTP/1.1\r\nHost: localhost:${port}\r\n\r\n`));
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      if (!head.subarray(0, 12).toString().startsWith("HTTP/1.1 200")) return reject(new Error(`CONNECT answered ${head.subarray(0, end).toString()}`));
      if (head.length > end + 4) socket.unshift(head.subarray(end + 4));
      resolve(socket);
    };
    socket.on("data", onData);
    socket.once("error", reject);
  });
}

/** GET `path` over a new TCP connection and a full TLS handshake (no session resumption); resolves with the body's length. */
async function httpsGet(port, path, ca, proxy) {
  const raw = await openTcp(port, proxy);
  const socket = tlsConnect({ socket: raw, servername: "localhost", ca });
  await new Promise((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost:${port}\r\nConnection: close\r\n\r\n`);
  const length = await readResponse(socket);
  socket.destroy();
  return length;
}

/** `onion proxy -v --port 0` as a user runs it; `builds()` counts the circuits it has built so far. */
async function startOnionProxy(mesh) {
  const child = spawn(process.execPath, [join(ROOT, "packages/client/bin/onion.mjs"), "proxy", "-v", "--port", "0", ...mesh.authorities.flatMap((a) => ["--authority", `${a.key}@${a.url}`]), "--family-rule", mesh.familyRule ? "on" : "off", "--state-dir", join(stateDir, "cli-state")], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk) => (stderr += chunk));
  const port = await new Promise((resolve, reject) => {
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      stdout += chunk;
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+) /.exec(stdout);
      if (match) resolve(Number(match[1]));
    });
    child.once("exit", (code) => reject(new Error(`onion proxy exited (${code}): ${stderr}`)));
  });
  return {
    port,
    builds: () => (stderr.match(/building a circuit/g) ?? []).length,
    stop: () => new Promise((resolve) => (child.exitCode !== null ? resolve() : (child.once("exit", resolve), child.kill("SIGTERM")))),
  };
}

const body = Buffer.from("x".repeat(1024));
const origin = createServer((request, response) => {
  request.resume();
  request.on("end", () => response.writeHead(200, { "content-type": "text/plain" }).end(body));
});
await new Promise((resolve) => origin.listen(0, "127.0.0.1", resolve));
const originUrl = `http://127.0.0.1:${origin.address().port}/bench`;

const stateDir = mkdtempSync(join(tmpdir(), "shallot-bench-"));
console.error("bench: starting the mesh…");
const mesh = await startMesh({ ports: { relay: 28787, directories: [28788, 28791, 28792], auth: 28789 }, relays: 6, stateDir, inspectorBase: 29330 });
try {
  // The consensus as any client takes it: from the authorities, signed by more than half of them.
  const { document: consensus } = await consensusFromAuthorities({ authorities: mesh.authorities, now: Date.now, get: async (a) => (await fetch(`${a.url}/consensus`)).json() });
  const transport = {
    async send(address, cell) {
      const response = await fetch(`${address}/cell`, { method: "POST", body: cell });
      if (!response.ok) throw new Error(`relay answered ${response.status}`);
      return new Uint8Array(await response.arrayBuffer());
    },
  };
  const drain = async (response) => {
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`answered ${response.status}`);
  };
  const gateway = `${mesh.urls.relay}/fetch?url=${encodeURIComponent(originUrl)}`;

  console.error("bench: circuit builds…");
  const build = await measure(ROUNDS.build, async () => {
    // One deployment: the dev mesh's family rule is off.
    const circuit = await Circuit.build(selectPath(consensus.relays, { familyRule: mesh.familyRule }), transport, { clock: () => performance.now() });
    await circuit.destroy();
  });
  console.error("bench: GETs…");
  const direct = await measure(ROUNDS.get, async () => drain(await fetch(originUrl)));
  const anonymous = await measure(ROUNDS.get, async () => drain(await fetch(gateway)));
  // The gateway reports its own build time (Server-Timing): the circuit built inside the runtime,
  // hop to hop over service bindings, without this process's HTTP round trips.
  const gatewayBuilds = [];
  const fresh = await measure(ROUNDS.fresh, async () => {
    const response = await fetch(gateway, { headers: { "onion-new-circuit": "1" } });
    const build = /circuit-build;dur=([\d.]+)/.exec(response.headers.get("server-timing") ?? "");
    if (build) gatewayBuilds.push(Number(build[1]));
    await drain(response);
  });
  const gatewayBuild = summarize(gatewayBuilds.slice(WARMUP));

  console.error("bench: memory of an 8 MiB POST…");
  const memory = await peakMemory(mesh.inspectors.relay, async () => {
    const response = await fetch(`${mesh.urls.relay}/fetch?url=${encodeURIComponent(originUrl)}`, { method: "POST", body: new Uint8Array(8 * 1024 * 1024), headers: { "onion-new-circuit": "1" } });
    await drain(response);
  });

  console.error("bench: streams (HTTPS through onion proxy's CONNECT, paired with direct)…");
  const ca = makeTestCa();
  const leaf = ca.issue({ dns: ["localhost"] });
  const page = Buffer.from("y".repeat(1024));
  const download = Buffer.alloc(10 * 1024 * 1024, 7);
  const httpsOrigin = createHttpsServer({ ...leaf, noDelay: true }, (request, response) => {
    const answer = request.url === "/10m" ? download : page;
    response.writeHead(200, { "content-type": "application/octet-stream", "content-length": answer.length }).end(answer);
  });
  httpsOrigin.on("secureConnection", (socket) => socket.setNoDelay(true));
  await new Promise((resolve) => httpsOrigin.listen(0, "127.0.0.1", resolve));
  const httpsPort = httpsOrigin.address().port;
  const onionProxy = await startOnionProxy(mesh);
  let streams;
  try {
    // Pairs, interleaved: direct then through the circuit. A sample during which the proxy built a
    // circuit (its streams' circuit is replaced every 10 s) is left out: this measures a reused one.
    const direct1k = [];
    const onion1k = [];
    let withBuild = 0;
    for (let i = 0; i < WARMUP; i++) {
      await httpsGet(httpsPort, "/1k", ca.ca);
      await httpsGet(httpsPort, "/1k", ca.ca, onionProxy.port);
    }
    while (onion1k.length < ROUNDS.httpsGet) {
      direct1k.push(await time(() => httpsGet(httpsPort, "/1k", ca.ca)));
      const builds = onionProxy.builds();
      const sample = await time(() => httpsGet(httpsPort, "/1k", ca.ca, onionProxy.port));
      if (onionProxy.builds() === builds) onion1k.push(sample);
      else withBuild++;
    }
    const mbps = (ms) => +(download.length / 1e6 / (ms / 1000)).toFixed(1);
    const directDownload = [];
    const onionDownload = [];
    await httpsGet(httpsPort, "/10m", ca.ca, onionProxy.port);
    for (let i = 0; i < ROUNDS.download; i++) {
      directDownload.push(await time(() => httpsGet(httpsPort, "/10m", ca.ca)));
      onionDownload.push(await time(() => httpsGet(httpsPort, "/10m", ca.ca, onionProxy.port)));
    }
    console.error("bench: the isolate's memory while 10 MiB downloads run through it…");
    const oneStream = await peakMemory(mesh.inspectors.relay, () => httpsGet(httpsPort, "/10m", ca.ca, onionProxy.port));
    const fourStreams = await peakMemory(mesh.inspectors.relay, () => Promise.all([0, 1, 2, 3].map(() => httpsGet(httpsPort, "/10m", ca.ca, onionProxy.port))));
    const directGet1k = summarize(direct1k);
    const onionGet1k = summarize(onion1k);
    const directMBps = summarize(directDownload.map(mbps));
    const onionMBps = summarize(onionDownload.map(mbps));
    streams = {
      httpsGet1KiB: { direct: directGet1k, throughConnect: onionGet1k, overDirect: { p50: +(onionGet1k.p50 - directGet1k.p50).toFixed(2), p95: +(onionGet1k.p95 - directGet1k.p95).toFixed(2) }, samplesWithABuildLeftOut: withBuild },
      /** MB/s (10^6 bytes per second) of 10 MiB bodies; p50 is the median rate, "min" the slowest. */
      download10MiB: { direct: { n: directMBps.n, p50: directMBps.p50, slowest: directMBps.min }, throughConnect: { n: onionMBps.n, p50: onionMBps.p50, slowest: onionMBps.min } },
      /** MiB of the relay worker's isolate (entry, middle, exit and gateway all live in it in dev). */
      memoryDuring10MiBDownload: {
        oneStream: { ...oneStream, perStreamMiB: +(oneStream.peakMiB - oneStream.restMiB).toFixed(1) },
        fourStreams: { ...fourStreams, perStreamMiB: +((fourStreams.peakMiB - fourStreams.restMiB) / 4).toFixed(1), eachStreamAfterTheFirstMiB: +((fourStreams.peakMiB - oneStream.peakMiB) / 3).toFixed(1) },
      },
    };
  } finally {
    await onionProxy.stop();
    httpsOrigin.close();
    ca.dispose();
  }

  const results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    relays: 6,
    originBodyBytes: body.length,
    unit: "ms",
    circuitBuildAtGateway: gatewayBuild,
    circuitBuildFromClient: build,
    directGet: direct,
    anonymousGet: anonymous,
    anonymousGetOverDirect: { p50: +(anonymous.p50 - direct.p50).toFixed(2), p95: +(anonymous.p95 - direct.p95).toFixed(2) },
    anonymousGetFreshCircuit: fresh,
    /** MiB: the relay worker's isolate, at rest and at its peak during one 8 MiB POST (3 rounds, the largest peak). */
    memory8MiBPost: memory,
    streams,
  };
  const rows = [
    ["circuit build at the gateway (in the runtime)", gatewayBuild],
    ["circuit build by a client over HTTP (3 hops)", build],
    ["direct GET of the origin", direct],
    ["anonymous GET via /fetch (reused circuit)", anonymous],
    ["anonymous GET via /fetch (new circuit)", fresh],
  ];
  console.log("\n| measurement | n | p50 ms | p95 ms |\n|---|---:|---:|---:|");
  for (const [name, s] of rows) console.log(`| ${name} | ${s.n} | ${s.p50} | ${s.p95} |`);
  console.log(`| anonymous GET over direct GET | | ${results.anonymousGetOverDirect.p50} | ${results.anonymousGetOverDirect.p95} |`);
  console.log(`\npeak isolate memory during an 8 MiB POST through the gateway and 3 hops (one isolate in dev): ${memory.peakMiB} MiB (at rest ${memory.restMiB} MiB)`);
  const { httpsGet1KiB: get, download10MiB: bulk, memoryDuring10MiBDownload: held } = streams;
  console.log("\n| streams (onion proxy CONNECT, TLS from here to the origin) | n | p50 | p95 |\n|---|---:|---:|---:|");
  console.log(`| HTTPS GET 1 KiB direct (TCP connect + TLS handshake + GET), ms | ${get.direct.n} | ${get.direct.p50} | ${get.direct.p95} |`);
  console.log(`| HTTPS GET 1 KiB through CONNECT, reused circuit, ms | ${get.throughConnect.n} | ${get.throughConnect.p50} | ${get.throughConnect.p95} |`);
  console.log(`| HTTPS GET over direct, ms | | ${get.overDirect.p50} | ${get.overDirect.p95} |`);
  console.log(`| 10 MiB download direct, MB/s (p50; slowest) | ${bulk.direct.n} | ${bulk.direct.p50} | ${bulk.direct.slowest} |`);
  console.log(`| 10 MiB download through CONNECT, MB/s (p50; slowest) | ${bulk.throughConnect.n} | ${bulk.throughConnect.p50} | ${bulk.throughConnect.slowest} |`);
  console.log(`\npeak isolate memory during 10 MiB downloads (garbage included): one stream ${held.oneStream.peakMiB} MiB (at rest ${held.oneStream.restMiB}: ${held.oneStream.perStreamMiB} MiB for it); four at once ${held.fourStreams.peakMiB} MiB (${held.fourStreams.perStreamMiB} MiB a stream; ${held.fourStreams.eachStreamAfterTheFirstMiB} MiB for each after the first)`);
  if (get.samplesWithABuildLeftOut > 0) console.log(`(${get.samplesWithABuildLeftOut} HTTPS GET samples that included a circuit build were left out)`);
  writeFileSync(join(ROOT, "bench", "results.json"), JSON.stringify(results, null, 2) + "\n");
  console.log("\nwritten to bench/results.json");
} finally {
  await mesh.stop();
  origin.close();
  rmSync(stateDir, { recursive: true, force: true });
}
