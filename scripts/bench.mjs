// `npm run bench`: starts a private mesh and a loopback origin, then measures
//   - circuit build, twice: as the gateway reports it (Server-Timing), and as a client in this process
//     (the protocol package over real HTTP to the entry) experiences it;
//   - direct GET of the origin, and anonymous GET of the same origin through the gateway's circuit;
//   - anonymous GET on a fresh circuit (onion-new-circuit: 1), i.e. build + request at the gateway;
//   - peak memory of the relay worker's isolate (V8 heap + ArrayBuffers, from its inspector) while an
//     8 MiB POST goes through the gateway and three hops, all of which share that isolate in dev.
// Prints medians and p95 and writes bench/results.json. Not a test: nothing here asserts.

import { createServer } from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import { join } from "node:path";
import { Circuit, consensusFromAuthorities, selectPath } from "../packages/protocol/src/index.ts";
import { ROOT, startMesh } from "./mesh.mjs";

const ROUNDS = { build: Number(process.env.BENCH_BUILDS ?? 60), get: Number(process.env.BENCH_GETS ?? 200), fresh: Number(process.env.BENCH_FRESH ?? 40) };
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
  writeFileSync(join(ROOT, "bench", "results.json"), JSON.stringify(results, null, 2) + "\n");
  console.log("\nwritten to bench/results.json");
} finally {
  await mesh.stop();
  origin.close();
  rmSync(stateDir, { recursive: true, force: true });
}
