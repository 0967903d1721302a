// The family rule on real deployments: with a third relay deployment (whose relays are no exits),
// every circuit — the CLI's, and the gateway's of a deployment that keeps the rule — has one relay
// of each deployment, and its exit carries the Exit flag.

import { join } from "node:path";
import { type ConsensusDocument, deploymentHost } from "@shallot/protocol";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type RelayDeployment, startRelayDeployment } from "./deployment.ts";
import { consensusWhere, networkArgs } from "./network.ts";
import { onion } from "./onion-cli.ts";
import { type Origin, startOrigin } from "./origin.ts";

const mesh = inject("mesh");
const ADMIN = { authorization: `Bearer ${mesh.adminToken}` };

let third: RelayDeployment;
let origin: Origin;
let consensus: ConsensusDocument;


const hostOf = (id: string) => deploymentHost(consensus.relays.find((r) => r.id === id)!.address);

beforeAll(async () => {
  origin = await startOrigin();
  origin.answer = { status: 200, headers: { "content-type": "text/plain" }, body: Buffer.from("one relay per deployment") };
  // A third deployment: two relays that are never exits, and a gateway that keeps the family rule.
  third = await startRelayDeployment(mesh, 2, { EXIT: "false", FAMILY_RULE: "true" });
  consensus = await consensusWhere(mesh, (d) => third.ids.every((id) => d.relays.some((r) => r.id === id)), 60_000);
}, 180_000);

afterAll(async () => {
  // Out of the consensus, then gone: the files after this one get a consensus without relays that no
  // longer answer (retired relays leave it at the authorities' next round).
  for (const id of third?.ids ?? []) await fetch(`${third.url}/relays/${id}`, { method: "DELETE", headers: ADMIN }).catch(() => {});
  if (third) await consensusWhere(mesh, (document) => !document.relays.some((relay) => third.ids.includes(relay.id)), 60_000);
  third?.kill();
  await origin?.close();
});

describe("the family rule on a mesh of three deployments", () => {
  it("lists the third deployment's relays without the Exit flag", () => {
    for (const id of third.ids) expect(consensus.relays.find((r) => r.id === id)!.flags).not.toContain("Exit");
    expect(new Set(consensus.relays.map((r) => deploymentHost(r.address))).size).toBe(3);
  });

  it("gives every circuit the CLI builds one relay of each deployment, and an exit with the Exit flag", async () => {
    for (let run = 0; run < 6; run++) {
      // A fresh state directory each time: a fresh guard, so the runs cover entries of every deployment.
      const result = await onion(["circuit", ...networkArgs(mesh, join(mesh.stateDir, `family-${run}`)), "--family-rule", "on"]);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(result.stdout).toContain("family rule on");
      const hops = [...result.stdout.matchAll(/^ {2}hop \d\/3 \S+\s+([0-9a-f]{16})  \S+  \[([A-Za-z ]*)\]/gm)];
      const ids = hops.map((hop) => consensus.relays.find((r) => r.id.startsWith(hop[1]!))!.id);
      expect(new Set(ids.map(hostOf)).size).toBe(3);
      expect(hops[2]![2]!.split(" ")).toContain("Exit");
      expect(third.ids).not.toContain(ids[2]);
    }
  });

  it("gives every circuit of a gateway that keeps the rule one relay of each deployment", async () => {
    for (let i = 0; i < 8; i++) {
      const response = await fetch(`${third.url}/fetch?url=${encodeURIComponent(`${origin.url}/family/${i}`)}`, { headers: { "onion-new-circuit": "1" } });
      expect(response.status).toBe(200);
      expect(await response.text()).toBe("one relay per deployment");
      const path = response.headers.get("onion-circuit")!.split(",");
      expect(new Set(path.map(hostOf)).size).toBe(3);
      expect(third.ids).not.toContain(path[2]);
    }
  });

  it("registers through the CLI while a deployment the consensus still lists has gone: a circuit through it is replaced", async () => {
    // Gone without retiring: its relays stay listed until the authorities' tests and TTL drop them,
    // and about one path in four has one of them as its entry or middle.
    third.kill();
    for (let run = 0; run < 6; run++) {
      const username = `family-${run}-${Date.now().toString(36)}`;
      const result = await onion(["register", ...networkArgs(mesh, join(mesh.stateDir, `family-gone-${run}`)), "--server", mesh.urls.auth, "--server-key", mesh.authKey, "--password-stdin", username], "correct horse");
      expect(result.stderr).toBe("");
      expect(result.stdout).toBe(`registered ${username} (scram-sha-256) at ${mesh.urls.auth}\n`);
    }
  });
});
