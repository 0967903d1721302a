// One mesh for every end-to-end file: the `wrangler dev` processes (three authorities, the auth
// server, two relay deployments) on ports apart from the dev mesh's (so a developer's running
// `npm run dev` does not interfere), torn down at the end.

import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { E2E_EXIT_PORTS } from "./origin.ts";
// @ts-expect-error -- plain ESM script shared with `npm run dev`
import { startMesh } from "../../scripts/mesh.mjs";

export interface MeshInfo {
  /** `directory` is the first authority; `directories` all three. */
  urls: { relay: string; directory: string; directories: string[]; auth: string; second: string };
  adminToken: string;
  /** The three authorities and their keys, as every client pins them. */
  authorities: { url: string; key: string }[];
  /** The mesh's gateways keep the family rule off (two deployments are too few for it). */
  familyRule: boolean;
  /** Process group of each worker's wrangler (authority-1, authority-2, authority-3, auth, relay, second). */
  groups: Record<string, number>;
  /** The auth server's X25519 public key (base64url): what clients pin. */
  authKey: string;
  stateDir: string;
  /** Everything the workers printed (wrangler's and workerd's stdout and stderr), one line each. */
  workerLog: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    mesh: MeshInfo;
  }
}

export default async function setup(project: TestProject) {
  const stateDir = mkdtempSync(join(tmpdir(), "shallot-e2e-"));
  // Kept so a test can show that nothing a circuit carries is ever logged (nothing-on-disk.test.ts).
  const workerLog = join(stateDir, "workers.log");
  const log = (line: string) => appendFileSync(workerLog, `${line}\n`);
  // Six relays in the main deployment and three in a second one (another Worker on its own port).
  // Their exits allow every port but 25 (E2E_EXIT_PORTS).
  const mesh = await startMesh({ ports: { relay: 18787, directories: [18788, 18791, 18792], auth: 18789, second: 18790 }, relays: 6, secondRelays: 3, stateDir, inspectorBase: 19330, log, extraRelayVars: { EXIT_PORTS: E2E_EXIT_PORTS } });
  const groups = Object.fromEntries(mesh.processes.map((p: { name: string; child: { pid: number } }) => [p.name, p.child.pid]));
  project.provide("mesh", { urls: mesh.urls, adminToken: mesh.adminToken, authorities: mesh.authorities, familyRule: mesh.familyRule, groups, authKey: mesh.authKey, stateDir, workerLog });
  return async () => {
    // A test that froze a worker (SIGSTOP) and failed before waking it: wake it, so it can stop.
    for (const pid of Object.values(groups)) {
      try {
        process.kill(-pid, "SIGCONT");
      } catch {}
    }
    await mesh.stop();
    rmSync(stateDir, { recursive: true, force: true });
  };
}
