// One worker of the dev mesh: `wrangler dev` started through wrangler's API, with the same config,
// state and variables the CLI would use (scripts/mesh.mjs passes the subset of `wrangler dev`
// arguments read below). Two differences from the CLI:
// - Its public port is served straight by the worker's own runtime. `wrangler dev` puts a proxy in
//   front (a second workerd holding every request in a Durable Object queue, so it can wait out a
//   reload): about 3 ms and 1.6 ms of CPU a request on loopback, more than the three hops of a
//   circuit cost. Here the port is a byte-for-byte pass-through to the runtime wrangler reports after
//   each (re)load; while none is known, or the one known refuses (a reload under way), a connection
//   goes to wrangler's own proxy instead, which waits for the reload. A CONNECT is answered on the
//   port itself, in JSON (scripts/front-door.mjs).
// - Under the production destination policy (--production-egress) every outbound fetch goes through
//   scripts/egress.mjs, which refuses names that resolve to non-public addresses.
// SHALLOT_EGRESS_HOSTS (JSON: name → address) adds resolver entries, for tests.

import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { unstable_DevEnv as DevEnv } from "wrangler";
import { productionEgress } from "./egress.mjs";
import { connectTo, openFrontDoor } from "./front-door.mjs";

const args = process.argv.slice(2);
const option = (name) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const host = option("--ip") ?? "127.0.0.1";
const port = Number(option("--port"));

/** Where `wrangler dev` processes find each other (service bindings across processes), as wrangler's CLI resolves it. */
function devRegistry() {
  if (process.env.WRANGLER_REGISTRY_PATH) return process.env.WRANGLER_REGISTRY_PATH;
  const legacy = join(homedir(), ".wrangler");
  const config = existsSync(legacy) ? legacy : join(process.env.XDG_CONFIG_HOME ?? join(homedir(), ".config"), ".wrangler");
  return join(config, "registry");
}

const devEnv = new DevEnv();
let started = false;
// wrangler's API reports failures as events, which its CLI would print and, while starting, exit on
// (a taken inspector port, a config it cannot read); unheard, the start would hang. After the start,
// as with the CLI, an error (a bundling error on a reload) is printed and the worker keeps serving.
devEnv.on("error", (event) => {
  const cause = event?.cause instanceof Error ? `: ${event.cause.message}` : "";
  console.error(`✘ [ERROR] ${event instanceof Error ? event.message : `${event?.reason ?? "error"}${cause}`}`);
  if (!started) process.exit(1);
});
/** The worker's runtime, as wrangler's last completed (re)load reported it. */
let runtime = null;
devEnv.on("reloadComplete", (event) => {
  const url = event.proxyData?.userWorkerUrl;
  runtime = url ? { host: url.hostname, port: Number(url.port) } : null;
});

/** wrangler's own proxy: where connections go until the runtime is known, and while it reloads. */
let proxy = null;
let proxyKnown;
const ready = new Promise((resolve) => (proxyKnown = resolve));
const upstream = async () => {
  await ready;
  // The runtime may have gone away under a reload before this connection reached it: wrangler's proxy waits for the next one.
  if (runtime) return connectTo(runtime).catch(() => connectTo(proxy));
  return connectTo(proxy);
};
// The public port first: when it is taken, the worker is not started at all.
const door = await openFrontDoor({ port, host, upstream }).catch((error) => {
  // The supervisor (supervise.mjs) names the port from this line.
  console.error(`${error.code === "EADDRINUSE" ? "Address already in use" : error.message}: ${host}:${port}`);
  process.exit(1);
});

const worker = await devEnv.startWorker({
  config: option("-c"),
  env: option("--env"),
  envFiles: option("--env-file") ? [option("--env-file")] : undefined,
  dev: {
    // wrangler's proxy listens on a port of its own; the public one is ours (above).
    server: { hostname: host, port: 0 },
    inspector: option("--inspector-port") ? { port: Number(option("--inspector-port")) } : false,
    persist: option("--persist-to"),
    registry: devRegistry(),
    watch: !args.includes("--no-watch"),
    outboundService: args.includes("--production-egress") ? productionEgress({ hosts: JSON.parse(process.env.SHALLOT_EGRESS_HOSTS ?? "{}") }) : undefined,
  },
});
await worker.ready;
const proxyUrl = new URL(await worker.url);
proxy = { host: proxyUrl.hostname, port: Number(proxyUrl.port) };
started = true;
proxyKnown();
console.log(`Ready on http://${host}:${port}${args.includes("--production-egress") ? " (production destination policy)" : ""}`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await door.close();
  await worker.dispose().catch(() => {});
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
