// `wrangler dev` for a relay deployment under the production destination policy
// (EXIT_POLICY=production): the same worker, config and state as the CLI would run, started through
// wrangler's API so that every outbound fetch goes through scripts/egress.mjs, which refuses names
// that resolve to non-public addresses. Takes the subset of `wrangler dev` arguments scripts/mesh.mjs
// passes. SHALLOT_EGRESS_HOSTS (JSON: name → address) adds resolver entries, for tests.

import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { unstable_startWorker } from "wrangler";
import { productionEgress } from "./egress.mjs";

const args = process.argv.slice(2);
const option = (name) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};

/** Where `wrangler dev` processes find each other (service bindings across processes), as wrangler's CLI resolves it. */
function devRegistry() {
  if (process.env.WRANGLER_REGISTRY_PATH) return process.env.WRANGLER_REGISTRY_PATH;
  const legacy = join(homedir(), ".wrangler");
  const config = existsSync(legacy) ? legacy : join(process.env.XDG_CONFIG_HOME ?? join(homedir(), ".config"), ".wrangler");
  return join(config, "registry");
}

const worker = await unstable_startWorker({
  config: option("-c"),
  env: option("--env"),
  envFiles: option("--env-file") ? [option("--env-file")] : undefined,
  dev: {
    server: { hostname: option("--ip") ?? "127.0.0.1", port: Number(option("--port")) },
    inspector: option("--inspector-port") ? { port: Number(option("--inspector-port")) } : false,
    persist: option("--persist-to"),
    registry: devRegistry(),
    watch: false,
    outboundService: productionEgress({ hosts: JSON.parse(process.env.SHALLOT_EGRESS_HOSTS ?? "{}") }),
  },
});
await worker.ready;
console.log(`Ready on http://${option("--ip") ?? "127.0.0.1"}:${option("--port")} (production destination policy)`);

const stop = async () => {
  await worker.dispose().catch(() => {});
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
