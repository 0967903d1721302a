// `npm run dev`: the whole mesh on this machine, ready for curl.
// Environment: RELAYS (default 6), RELAY_PORT / AUTH_PORT (8787 / 8789), DIRECTORY_PORTS (the three
// authorities', 8788,8791,8792), RELAY_TTL_MS, PING_INTERVAL_MS, CONSENSUS_PERIOD_MS, RETEST_MS,
// STABLE_AFTER_MS, GUARD_AFTER_MS, MAX_RELAYS_PER_HOST, ADMIN_TOKEN, QUIET=1 to hide the workers' own logs,
// SECOND_RELAYS=<n> (and SECOND_PORT, 8790) to start a second relay deployment joining the same authorities,
// INSPECTOR_PORT (first of the workers' consecutive inspector ports), STATE_DIR (.wrangler/shallot-dev),
// KEEP_ACCOUNTS=1 to keep the auth server's accounts of the last run (every start is clean otherwise).
// When any worker's process ends, the others are stopped and this exits 1, naming the cause.

import { startMesh } from "./mesh.mjs";

const directories = (process.env.DIRECTORY_PORTS ?? "8788,8791,8792").split(",").map(Number);
if (directories.length !== 3 || !directories.every((port) => Number.isInteger(port) && port > 0)) {
  console.error("DIRECTORY_PORTS must be three ports, separated by commas (one per directory authority).");
  process.exit(2);
}
const ports = {
  relay: Number(process.env.RELAY_PORT ?? 8787),
  directories,
  auth: Number(process.env.AUTH_PORT ?? 8789),
  second: Number(process.env.SECOND_PORT ?? 8790),
};
const secondRelays = Number(process.env.SECOND_RELAYS ?? 0);
const relays = Number(process.env.RELAYS ?? 6);
if (!Number.isInteger(relays) || relays < 3) {
  console.error("RELAYS must be an integer of at least 3 (a circuit has three hops).");
  process.exit(2);
}

const quiet = process.env.QUIET === "1";
/** When a worker's process ends, the cause first; with QUIET=1 its last lines too, unless the cause says it all. */
function reportExit(exit) {
  console.error(`shallot: ${exit.cause}; the mesh is stopped.`);
  if (quiet && exit.port === undefined && exit.tail.length > 0) {
    console.error(`shallot: the last output of the ${exit.name} worker:\n${exit.tail.map((line) => `  ${line}`).join("\n")}`);
  }
}

console.log(`shallot: starting the mesh (${relays} relays)…`);
// Ctrl-C during the start stops what has started: the workers run in their own process groups and
// would not get the terminal's SIGINT themselves.
const starting = new AbortController();
const interrupt = () => starting.abort();
process.once("SIGINT", interrupt);
process.once("SIGTERM", interrupt);
let mesh;
try {
  mesh = await startMesh({ watch: true, ports, relays, secondRelays, stateDir: process.env.STATE_DIR, inspectorBase: process.env.INSPECTOR_PORT ? Number(process.env.INSPECTOR_PORT) : undefined, signal: starting.signal, log: quiet ? undefined : (line) => console.log(line) });
} catch (error) {
  if (starting.signal.aborted) process.exit(130);
  if (error.name === "WorkerExited") reportExit(error.exit);
  else console.error(`shallot: the mesh did not start: ${error.message}`);
  process.exit(1);
}
process.removeListener("SIGINT", interrupt);
process.removeListener("SIGTERM", interrupt);
const { urls } = mesh;
console.log(`
shallot: mesh ready
  browser page      ${urls.relay}/       (builds circuits in your browser)
  gateway + relays  ${urls.relay}        (curl -i '${urls.relay}/fetch?url=http://127.0.0.1:9000/')
  authorities       ${urls.directories.join(", ")}
                    (each: /consensus, its status page /; a consensus needs 2 of the 3 signatures)
  auth server       ${urls.auth}        (or through the gateway: POST ${urls.relay}/auth/register, /auth/login)${urls.second ? `\n  second relays     ${urls.second}        (another deployment, same authorities)` : ""}
  admin token       ${mesh.adminToken}   (POST ${urls.relay}/relays, DELETE ${urls.relay}/relays/:id)
  authority keys    ${mesh.authorities.map((a) => a.key).join(" ")}
  your own client   npx onion fetch http://127.0.0.1:9000/
  an origin         npm run origin   (in another terminal: the echo server on :9000 the examples fetch)
Ctrl-C stops everything.`);

let stopping = false;
const shutdown = async (code) => {
  if (stopping) return;
  stopping = true;
  await mesh.stop();
  process.exit(code);
};
process.on("SIGINT", () => shutdown(0));
process.on("SIGTERM", () => shutdown(0));
// One worker gone (a crash, a kill, a port taken) leaves a mesh that half works: stop all of it.
mesh.exited.then((exit) => {
  if (stopping) return;
  reportExit(exit);
  shutdown(1);
});
