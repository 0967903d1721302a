// `npm run bench`: starts a private mesh (three authorities, 6 relays) and loopback origins, then
// measures, each figure beside a direct baseline taken in the same run:
//   - latency, interleaved request by request with direct GETs of the origin: anonymous GETs through
//     the gateway on a reused circuit (back to back), on a new circuit (onion-new-circuit: 1; one
//     every 50 ms), and both back to back;
//   - where an anonymous GET's time goes: the gateway (Server-Timing), the hops (client circuits of
//     1, 2 and 3 hops over the HTTP link), the exit and the origin;
//   - the cold telescoping build: in the runtime (the gateway's Server-Timing) and by a client here;
//   - throughput: anonymous GETs with 50 in flight, beside the same load sent to the origin directly;
//   - the relay isolate's peak memory during an 8 MiB POST;
//   - streams (scripts/bench/streams.mjs): HTTPS through `onion proxy`'s CONNECT, and 10 MiB downloads.
// Every request names a fresh origin URL; the origin counts arrivals, and the bench reports whether
// each arrived exactly once. Prints tables, writes bench/results.json, and rewrites the README's
// figures from it (scripts/bench/report.mjs). Not a test: nothing here asserts.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { Circuit, consensusFromAuthorities, selectPath } from "../packages/protocol/src/index.ts";
import { closedLoop } from "./bench/load.mjs";
import { peakMemory } from "./bench/memory.mjs";
import { startCountingOrigin } from "./bench/origin.mjs";
import { printTables, targetsOf, updateReadme } from "./bench/report.mjs";
import { over, summarize, time } from "./bench/stats.mjs";
import { measureStreams } from "./bench/streams.mjs";
import { ROOT, startMesh } from "./mesh.mjs";

const env = (name, fallback) => Number(process.env[name] ?? fallback);
const ROUNDS = {
  latency: env("BENCH_GETS", 300),
  fresh: env("BENCH_NEW_CIRCUITS", 150),
  mixed: env("BENCH_MIXED", 200),
  build: env("BENCH_BUILDS", 60),
  hops: env("BENCH_HOPS", 150),
  load: env("BENCH_LOAD", 3000),
  inFlight: env("BENCH_IN_FLIGHT", 50),
  httpsGet: env("BENCH_HTTPS_GETS", 200),
  download: env("BENCH_DOWNLOADS", 6),
};
const WARMUP = 20;
/** The pause before each new-circuit request of the new-circuit phase. */
const FRESH_PACE_MS = 50;

const serverTiming = (response, name) => {
  const match = new RegExp(`(?:^|,\\s*)${name};dur=([\\d.]+)(;desc="([^"]*)")?`).exec(response.headers.get("server-timing") ?? "");
  return match ? { dur: Number(match[1]), desc: match[3] } : undefined;
};

const origin = await startCountingOrigin();
const stateDir = mkdtempSync(join(tmpdir(), "shallot-bench-"));
console.error("bench: starting the mesh…");
const mesh = await startMesh({ ports: { relay: 28787, directories: [28788, 28791, 28792], auth: 28789 }, relays: 6, stateDir, inspectorBase: 29330 });
const ids = { latency: [], hops: [], load: [], direct: [] };
try {
  const gatewayUrl = (url) => `${mesh.urls.relay}/fetch?url=${encodeURIComponent(url)}`;
  const get = async (url, headers, expect = 200) => {
    const response = await fetch(url, { headers });
    await response.arrayBuffer();
    if (response.status !== expect) throw new Error(`${url} answered ${response.status}`);
    return response;
  };
  const fresh = (phase) => {
    const target = origin.fresh(phase);
    ids[phase].push(target.id);
    return target.url;
  };

  console.error("bench: latency, reused circuit (direct and anonymous GETs, interleaved, back to back)…");
  const lat = { direct: [], reused: [], gateway: [], circuit: [], freshDirect: [], fresh: [], builds: [], coldFresh: [] };
  let reusedWithBuild = 0;
  let freshPrebuilt = 0;
  for (let i = 0; i < WARMUP + ROUNDS.latency; i++) {
    const keep = i >= WARMUP;
    const direct = await time(() => get(fresh("latency")));
    let response;
    const reused = await time(async () => (response = await get(gatewayUrl(fresh("latency")))));
    const request = serverTiming(response, "circuit-request");
    if (serverTiming(response, "circuit-build")) reusedWithBuild += keep ? 1 : 0;
    else if (keep) {
      lat.direct.push(direct);
      lat.reused.push(reused);
      if (request) {
        lat.circuit.push(request.dur);
        lat.gateway.push(reused - request.dur);
      }
    }
  }

  // A new-circuit request is rare (Tor takes NEWNYM at most once every 10 s): one every
  // FRESH_PACE_MS here, each paired with a direct GET sent just before it. Between them the
  // gateway builds the next spare, as Tor builds predicted circuits in the background. After the
  // pause, a reused GET (not counted) wakes every process on the path first, as the back-to-back
  // loops keep them awake: on this VM an idle pause adds 1–2 ms to the next request of any kind.
  // The same requests sent back to back with reused ones are measured below too.
  console.error(`bench: latency, new circuit (one every ${FRESH_PACE_MS} ms, each paired with a direct GET)…`);
  for (let i = 0; i < WARMUP / 2 + ROUNDS.fresh; i++) {
    const keep = i >= WARMUP / 2;
    await new Promise((resolve) => setTimeout(resolve, FRESH_PACE_MS));
    await get(gatewayUrl(fresh("latency")));
    const direct = await time(() => get(fresh("latency")));
    let response;
    const took = await time(async () => (response = await get(gatewayUrl(fresh("latency")), { "onion-new-circuit": "1" })));
    const build = serverTiming(response, "circuit-build");
    if (keep && build) {
      lat.freshDirect.push(direct);
      lat.fresh.push(took);
      lat.builds.push(build.dur);
      if (build.desc === "ahead of time") freshPrebuilt++;
      else lat.coldFresh.push(took);
    }
  }

  // Back to back, a new-circuit request every other round (about 100 a second): on one thread
  // (the dev mesh) the next spare's build lands on the reused request that follows.
  console.error("bench: latency, new-circuit requests back to back with reused ones…");
  const mixed = { direct: [], reusedAfterFresh: [], fresh: [] };
  let afterFresh = false;
  for (let i = 0; i < WARMUP + ROUNDS.mixed; i++) {
    const keep = i >= WARMUP;
    const direct = await time(() => get(fresh("latency")));
    let response;
    const reused = await time(async () => (response = await get(gatewayUrl(fresh("latency")))));
    if (keep && afterFresh && !serverTiming(response, "circuit-build")) {
      mixed.direct.push(direct);
      mixed.reusedAfterFresh.push(reused);
    }
    afterFresh = i % 2 === 1;
    if (afterFresh) {
      const took = await time(async () => (response = await get(gatewayUrl(fresh("latency")), { "onion-new-circuit": "1" })));
      if (keep) mixed.fresh.push(took);
    }
  }

  console.error("bench: where the time goes (client circuits of 1, 2 and 3 hops)…");
  const { document: consensus } = await consensusFromAuthorities({ authorities: mesh.authorities, now: Date.now, get: async (a) => (await fetch(`${a.url}/consensus`)).json() });
  const transport = {
    async send(address, cell) {
      const response = await fetch(`${address}/cell`, { method: "POST", body: cell });
      if (!response.ok) throw new Error(`relay answered ${response.status}`);
      return new Uint8Array(await response.arrayBuffer());
    },
  };
  const clock = { clock: () => performance.now() };
  const path = selectPath(consensus.relays, { familyRule: mesh.familyRule });
  // The same exit at the end of each: one hop (entry = exit), two, three.
  const circuits = [await Circuit.build([path[2]], transport, clock), await Circuit.build([path[0], path[2]], transport, clock), await Circuit.build(path, transport, clock)];
  const hopSamples = { direct: [], link: [], 1: [], 2: [], 3: [] };
  for (let i = 0; i < WARMUP + ROUNDS.hops; i++) {
    const samples = [
      ["direct", () => get(fresh("hops"))],
      // An HTTP round trip into the relay worker that does nothing: what the link itself costs.
      ["link", () => get(`${mesh.urls.relay}/health`)],
      ...circuits.map((circuit, k) => [k + 1, async () => {
        const result = await circuit.request({ method: "GET", url: fresh("hops"), headers: [], body: new Uint8Array(0) });
        if (!result.ok || result.response.status !== 200) throw new Error("a client circuit's request failed");
      }]),
    ];
    for (const [name, run] of samples) {
      const took = await time(run);
      if (i >= WARMUP) hopSamples[name].push(took);
    }
  }
  await Promise.all(circuits.map((circuit) => circuit.destroy()));

  console.error("bench: cold circuit builds by a client over HTTP…");
  const clientBuilds = [];
  for (let i = 0; i < WARMUP / 2 + ROUNDS.build; i++) {
    const took = await time(async () => (await Circuit.build(selectPath(consensus.relays, { familyRule: mesh.familyRule }), transport, clock)).destroy());
    if (i >= WARMUP / 2) clientBuilds.push(took);
  }

  console.error(`bench: throughput, ${ROUNDS.inFlight} in flight (direct, then anonymous)…`);
  const directLoad = await closedLoop({ total: ROUNDS.load, inFlight: ROUNDS.inFlight, urlFor: () => fresh("direct") });
  const anonymousLoad = await closedLoop({ total: ROUNDS.load, inFlight: ROUNDS.inFlight, urlFor: () => gatewayUrl(fresh("load")) });

  console.error("bench: memory of an 8 MiB POST…");
  const memory = await peakMemory(mesh.inspectors.relay, async () => {
    const response = await fetch(gatewayUrl(origin.fresh("post").url), { method: "POST", body: new Uint8Array(8 * 1024 * 1024), headers: { "onion-new-circuit": "1" } });
    await response.arrayBuffer();
  });

  const streams = await measureStreams(mesh, { root: ROOT, stateDir, rounds: ROUNDS, warmup: 10 });

  const direct = summarize(lat.direct);
  const reused = summarize(lat.reused);
  const newCircuit = summarize(lat.fresh);
  const freshDirect = summarize(lat.freshDirect);
  const mixedDirect = summarize(mixed.direct);
  const mixedReused = summarize(mixed.reusedAfterFresh);
  const mixedFresh = summarize(mixed.fresh);
  const hops = Object.fromEntries(Object.entries(hopSamples).map(([k, v]) => [k, summarize(v)]));
  const hop = +(((hops[3].p50 - hops[2].p50) + (hops[2].p50 - hops[1].p50)) / 2).toFixed(2);
  const results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    relays: 6,
    authorities: mesh.authorities.length,
    originBodyBytes: origin.bodyBytes,
    unit: "ms",
    latency: {
      direct,
      reusedCircuit: { ...reused, overDirect: over(reused, direct), samplesWithABuildLeftOut: reusedWithBuild },
      /** One every `paceMs`, each over the direct GET sent just before it. */
      newCircuit: { ...newCircuit, paceMs: FRESH_PACE_MS, pairedDirect: freshDirect, overDirect: over(newCircuit, freshDirect), servedByACircuitBuiltAheadOfTime: freshPrebuilt },
      /** New-circuit requests whose circuit was built on their own path (no spare was ready). */
      newCircuitCold: summarize(lat.coldFresh),
      /** Back to back, a new-circuit request every other round: the reused requests right after one, and the new-circuit ones. */
      backToBack: {
        direct: mixedDirect,
        reusedAfterNewCircuit: { ...mixedReused, overDirect: over(mixedReused, mixedDirect) },
        newCircuit: { ...mixedFresh, overDirect: over(mixedFresh, mixedDirect) },
      },
    },
    /** The cold telescoping build (CREATE2, EXTEND2, EXTEND2). */
    circuitBuild: { inRuntime: summarize(lat.builds), fromClientOverHttp: summarize(clientBuilds) },
    /** Where an anonymous GET's time goes, p50s in ms (docs/performance.md says how each is taken). */
    stages: {
      origin: direct.p50,
      gateway: summarize(lat.gateway).p50,
      circuitInRuntime: summarize(lat.circuit).p50,
      linkRoundTrip: hops.link.p50,
      eachHop: hop,
      exit: +(hops[1].p50 - hops.link.p50 - hop - hops.direct.p50).toFixed(2),
      clientCircuits: { 1: hops[1], 2: hops[2], 3: hops[3], direct: hops.direct, link: hops.link },
    },
    throughput: {
      inFlight: ROUNDS.inFlight,
      direct: { ...directLoad, arrivals: origin.check(ids.direct) },
      anonymous: { ...anonymousLoad, arrivals: origin.check(ids.load) },
    },
    /** Every request the latency and stage phases sent, as the origin counted them. */
    arrivals: origin.check([...ids.latency, ...ids.hops]),
    /** MiB: the relay worker's isolate, at rest and at its peak during one 8 MiB POST (3 rounds, the largest peak). */
    memory8MiBPost: memory,
    streams,
  };
  results.targets = targetsOf(results);
  printTables(results);
  writeFileSync(join(ROOT, "bench", "results.json"), JSON.stringify(results, null, 2) + "\n");
  updateReadme(join(ROOT, "README.md"), results);
  console.log("\nwritten to bench/results.json; README.md's figures updated from it");
} finally {
  await mesh.stop();
  await origin.close();
  rmSync(stateDir, { recursive: true, force: true });
}
