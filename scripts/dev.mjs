// `npm run dev`: the whole mesh on this machine, ready for curl.
// Environment: RELAYS (default 6), RELAY_PORT / DIRECTORY_PORT / AUTH_PORT (8787 / 8788 / 8789),
// RELAY_TTL_MS, PING_INTERVAL_MS, ADMIN_TOKEN, QUIET=1 to hide the workers' own logs,
// SECOND_RELAYS=<n> (and SECOND_PORT, 8790) to start a second relay deployment joining the same directory.

import { startMesh } from "./mesh.mjs";

const ports = {
  relay: Number(process.env.RELAY_PORT ?? 8787),
  directory: Number(process.env.DIRECTORY_PORT ?? 8788),
  auth: Number(process.env.AUTH_PORT ?? 8789),
  second: Number(process.env.SECOND_PORT ?? 8790),
};
const secondRelays = Number(process.env.SECOND_RELAYS ?? 0);
const relays = Number(process.env.RELAYS ?? 6);
if (!Number.isInteger(relays) || relays < 3) {
  console.error("RELAYS must be an integer of at least 3 (a circuit has three hops).");
  process.exit(2);
}

console.log(`shallot: starting the mesh (${relays} relays)…`);
let mesh;
try {
  mesh = await startMesh({ ports, relays, secondRelays, log: process.env.QUIET === "1" ? undefined : (line) => console.log(line) });
} catch (error) {
  console.error(`shallot: the mesh did not start: ${error.message}`);
  process.exit(1);
}
const { urls } = mesh;
console.log(`
shallot: mesh ready
  browser page      ${urls.relay}/       (builds circuits in your browser)
  gateway + relays  ${urls.relay}        (curl -i '${urls.relay}/fetch?url=http://127.0.0.1:9000/')
  directory         ${urls.directory}        (${urls.directory}/consensus, status page ${urls.directory}/)
  auth server       ${urls.auth}        (or through the gateway: POST ${urls.relay}/auth/register, /auth/login)${urls.second ? `\n  second relays     ${urls.second}        (another deployment, same directory)` : ""}
  admin token       ${mesh.adminToken}   (POST ${urls.relay}/relays, DELETE ${urls.relay}/relays/:id)
  directory key     ${mesh.directoryKey}
  your own client   npx onion fetch http://127.0.0.1:9000/
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
for (const child of mesh.children) child.once("exit", () => shutdown(1));
