// One more relay deployment, for a test that must kill one or needs more deployments: the relay
// worker under another Worker name, on its own port and storage, publishing to the shared mesh's
// authorities. Its death is a SIGKILL of the whole process group (wrangler and its workerd), as a
// host that goes away.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { MeshInfo } from "./global-setup.ts";
import { E2E_EXIT_PORTS, freePort } from "./origin.ts";

const ROOT = resolve(import.meta.dirname, "../..");

export interface RelayDeployment {
  url: string;
  /** Relay ids it serves. */
  ids: string[];
  /** Kills it at once: its relays stay listed until the directory prunes them. */
  kill(): void;
}

export async function startRelayDeployment(mesh: MeshInfo, relays: number, extraVars: Record<string, string> = {}): Promise<RelayDeployment> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), "shallot-deployment-"));
  const envFile = join(dir, "relay.env");
  const vars = {
    DIRECTORY_AUTHORITIES: mesh.authorities.map((a) => `${a.key}@${a.url}`).join(","),
    FAMILY_RULE: String(mesh.familyRule),
    ADMIN_TOKEN: mesh.adminToken,
    PUBLIC_URL: url,
    AUTH_URL: mesh.urls.auth,
    AUTH_PUBLIC_KEY: mesh.authKey,
    ALLOW_PRIVATE_DESTINATIONS: "true",
    // As the shared mesh's exits: local origins listen on any port (the production default is 80,443).
    EXIT_PORTS: E2E_EXIT_PORTS,
    ...extraVars,
  };
  writeFileSync(envFile, Object.entries(vars).map(([k, v]) => `${k}=${v}`).join("\n") + "\n", { mode: 0o600 });
  const args = ["dev", "-c", "wrangler.toml", "--name", `shallot-relay-test-${port}`, "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(await freePort()), "--persist-to", join(dir, "state"), "--show-interactive-dev-session=false", "--env-file", envFile];
  const child: ChildProcess = spawn(join(ROOT, "node_modules", ".bin", "wrangler"), args, {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  for (const stream of [child.stdout!, child.stderr!]) stream.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const kill = () => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`wrangler exited: ${output.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`${url} did not start: ${output.slice(-2000)}`);
      if (await fetch(`${url}/health`).then((r) => r.ok, () => false)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const ids: string[] = [];
    for (let i = 0; i < relays; i++) {
      const response = await fetch(`${url}/relays`, { method: "POST", headers: { authorization: `Bearer ${mesh.adminToken}` } });
      if (response.status !== 201) throw new Error(`POST /relays answered ${response.status}`);
      ids.push(((await response.json()) as { id: string }).id);
    }
    return { url, ids, kill };
  } catch (error) {
    kill();
    throw error;
  }
}
