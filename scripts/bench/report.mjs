// The bench's report: its targets (issue 11) judged against bench/results.json, the tables it prints,
// and the README's Performance figures, rewritten from the results between two markers.
// `node scripts/bench/report.mjs` rewrites the README from the results.json on disk.

import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const BEGIN = "<!-- bench:begin (written by npm run bench from bench/results.json; do not edit) -->";
const END = "<!-- bench:end -->";

/** Each target, what was measured, and whether it holds. */
export function targetsOf(r) {
  const load = r.throughput.anonymous;
  const get = r.streams?.httpsGet1KiB;
  const download = r.streams?.download10MiB;
  const rows = [
    ["reused circuit: p50 over direct", "under +4 ms", r.latency.reusedCircuit.overDirect.p50, (v) => v < 4],
    ["reused circuit: p95 under twice its p50", `under ${(2 * r.latency.reusedCircuit.p50).toFixed(2)} ms`, r.latency.reusedCircuit.p95, (v) => v < 2 * r.latency.reusedCircuit.p50],
    ["new circuit: p50 over direct", "under +8 ms", r.latency.newCircuit.overDirect.p50, (v) => v < 8],
    ["cold telescoping build (in the runtime): p50", "under 15 ms", r.circuitBuild.inRuntime.p50, (v) => v < 15],
    [`throughput, ${r.throughput.inFlight} in flight (GET/s)`, "at least 600", load.rate, (v) => v >= 600],
    ["throughput: p99", "under 250 ms", load.latency.p99, (v) => v < 250],
    ["throughput: lost, duplicated or failed", "0", load.arrivals.lost + load.arrivals.duplicated + load.errors, (v) => v === 0],
  ];
  if (get) rows.push(["HTTPS GET through CONNECT, reused circuit: p50 over direct", "under +15 ms", get.overDirect.p50, (v) => v < 15]);
  if (download) rows.push(["10 MiB download through CONNECT (MB/s)", "at least 50", download.throughConnect.p50, (v) => v >= 50]);
  return rows.map(([name, target, measured, holds]) => ({ name, target, measured, met: holds(measured) }));
}

const row = (cells) => `| ${cells.join(" | ")} |`;

/** The figures as Markdown tables. */
export function tables(r) {
  const l = r.latency;
  const s = r.stages;
  const out = [];
  out.push("| latency, interleaved (ms) | n | p50 | p95 | p50 over direct | p50 ratio to direct |", "|---|---:|---:|---:|---:|---:|");
  out.push(row(["direct GET of the origin", l.direct.n, l.direct.p50, l.direct.p95, "", ""]));
  out.push(row(["anonymous GET, reused circuit (`/fetch`)", l.reusedCircuit.n, l.reusedCircuit.p50, l.reusedCircuit.p95, `+${l.reusedCircuit.overDirect.p50}`, `${l.reusedCircuit.overDirect.ratioP50}×`]));
  out.push(row([`direct GET, each just before a new-circuit request (one every ${l.newCircuit.paceMs} ms)`, l.newCircuit.pairedDirect.n, l.newCircuit.pairedDirect.p50, l.newCircuit.pairedDirect.p95, "", ""]));
  out.push(row([`anonymous GET, new circuit (\`onion-new-circuit: 1\`; ${l.newCircuit.servedByACircuitBuiltAheadOfTime} of ${l.newCircuit.n} on a circuit built ahead of time)`, l.newCircuit.n, l.newCircuit.p50, l.newCircuit.p95, `+${l.newCircuit.overDirect.p50}`, `${l.newCircuit.overDirect.ratioP50}×`]));
  if (l.newCircuitCold.n > 0) out.push(row(["… of which built on the request's own path", l.newCircuitCold.n, l.newCircuitCold.p50, l.newCircuitCold.p95, `+${(l.newCircuitCold.p50 - l.newCircuit.pairedDirect.p50).toFixed(2)}`, ""]));
  const b = l.backToBack;
  out.push(row(["back to back, a new-circuit request every other round: the reused GET right after one", b.reusedAfterNewCircuit.n, b.reusedAfterNewCircuit.p50, b.reusedAfterNewCircuit.p95, `+${b.reusedAfterNewCircuit.overDirect.p50}`, `${b.reusedAfterNewCircuit.overDirect.ratioP50}×`]));
  out.push(row(["… and the new-circuit GETs", b.newCircuit.n, b.newCircuit.p50, b.newCircuit.p95, `+${b.newCircuit.overDirect.p50}`, `${b.newCircuit.overDirect.ratioP50}×`]));
  out.push(row(["cold telescoping build, in the runtime (Server-Timing)", r.circuitBuild.inRuntime.n, r.circuitBuild.inRuntime.p50, r.circuitBuild.inRuntime.p95, "", ""]));
  out.push(row(["cold telescoping build by a client over HTTP (3 round trips)", r.circuitBuild.fromClientOverHttp.n, r.circuitBuild.fromClientOverHttp.p50, r.circuitBuild.fromClientOverHttp.p95, "", ""]));
  out.push("");
  out.push("| where a reused circuit's GET goes (p50, ms) | |", "|---|---:|");
  out.push(row(["the gateway: HTTP in and out of the runtime, the request read, the answer shaped", s.gateway]));
  out.push(row(["the circuit in the runtime: three hops there and back, the exit's fetch (Server-Timing)", s.circuitInRuntime]));
  out.push(row(["… each hop (layer, replay window, hop-to-hop call; from client circuits of 1, 2, 3 hops)", s.eachHop]));
  out.push(row(["… the exit beyond its hop (request decoded, fetch made, answer encoded)", s.exit]));
  out.push(row(["… the origin (a direct GET)", s.origin]));
  out.push(row(["for scale: an HTTP round trip into the relay worker (`GET /health`)", s.linkRoundTrip]));
  out.push("");
  const t = r.throughput;
  out.push(`| throughput, ${t.inFlight} in flight | requests | per second | p50 ms | p99 ms | arrived once | lost | twice | failed |`, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const [name, x] of [["direct", t.direct], ["anonymous (`/fetch`, reused circuits)", t.anonymous]]) {
    out.push(row([name, x.arrivals.sent, x.rate, x.latency.p50, x.latency.p99, x.arrivals.once, x.arrivals.lost, x.arrivals.duplicated, x.errors]));
  }
  if (r.streams) {
    const g = r.streams.httpsGet1KiB;
    const d = r.streams.download10MiB;
    out.push("");
    out.push("| streams (`onion proxy`, CONNECT, TLS from here to the origin) | n | p50 | p95 |", "|---|---:|---:|---:|");
    out.push(row(["HTTPS GET of 1 KiB, direct: TCP connect, full TLS 1.3 handshake, GET (ms)", g.direct.n, g.direct.p50, g.direct.p95]));
    out.push(row(["the same through CONNECT on a reused circuit (ms)", g.throughConnect.n, g.throughConnect.p50, g.throughConnect.p95]));
    out.push(row(["HTTPS GET over direct (ms)", "", `+${g.overDirect.p50}`, `+${g.overDirect.p95}`]));
    out.push(row(["10 MiB download, direct (MB/s; p50, slowest)", d.direct.n, d.direct.p50, d.direct.slowest]));
    out.push(row(["10 MiB download through CONNECT (MB/s; p50, slowest)", d.throughConnect.n, d.throughConnect.p50, d.throughConnect.slowest]));
  }
  out.push("");
  out.push("| target (issue 11) | wanted | measured | |", "|---|---|---:|---|");
  for (const x of r.targets) out.push(row([x.name, x.target, x.measured, x.met ? "met" : "**not met**"]));
  out.push("");
  const m = r.memory8MiBPost;
  out.push(`Relay isolate memory (V8 heap in use plus ArrayBuffers, garbage included): ${m.peakMiB} MiB at the peak of an 8 MiB POST through the gateway and three hops, ${m.restMiB} MiB at rest.`);
  if (r.streams) {
    const held = r.streams.memoryDuring10MiBDownload;
    out.push(`During 10 MiB downloads: ${held.oneStream.peakMiB} MiB with one stream, ${held.fourStreams.peakMiB} MiB with four (${held.fourStreams.eachStreamAfterTheFirstMiB} MiB for each after the first).`);
  }
  return out.join("\n");
}

export function printTables(results) {
  console.log(`\n${tables(results)}\n`);
}

/** Rewrites the block between the markers in the README with the figures of `results`. */
export function updateReadme(readmePath, results) {
  const text = readFileSync(readmePath, "utf8");
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${readmePath} has no bench markers`);
  const machine = `${results.machine.cpus} cores (${results.machine.model}), Node ${results.machine.node}`;
  const block = `${BEGIN}\nMeasured ${results.date.slice(0, 10)} on ${machine}: ${results.authorities} authorities, ${results.relays} relays, a ${results.originBodyBytes}-byte answer.\n\n${tables(results)}\n`;
  writeFileSync(readmePath, text.slice(0, start) + block + text.slice(end));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  const results = JSON.parse(readFileSync(join(root, "bench", "results.json"), "utf8"));
  updateReadme(join(root, "README.md"), results);
  console.log("README.md's figures rewritten from bench/results.json");
}
