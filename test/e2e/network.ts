// How the end-to-end tests pin the mesh's network: its three authorities, its family rule (off: two
// relay deployments are too few), and a state directory of the mesh's own for the CLI's guards.

import { join } from "node:path";
import { type ConsensusDocument, type FetchedConsensus, consensusFromAuthorities } from "@shallot/protocol";
import type { MeshInfo } from "./global-setup.ts";

/** `onion` arguments for the mesh: every authority, the family rule as the mesh has it, the guards in the mesh's state directory. */
export const networkArgs = (mesh: MeshInfo, stateDir = join(mesh.stateDir, "cli-state")): string[] => [
  ...mesh.authorities.flatMap((a) => ["--authority", `${a.key}@${a.url}`]),
  "--family-rule",
  mesh.familyRule ? "on" : "off",
  "--state-dir",
  stateDir,
];

/** The consensus as a client takes it: from every authority, signed by more than half of them. */
export const fetchConsensus = (mesh: MeshInfo): Promise<FetchedConsensus> =>
  consensusFromAuthorities({ authorities: mesh.authorities, now: Date.now, get: async (a) => (await fetch(`${a.url}/consensus`)).json() });

export const consensusDocument = async (mesh: MeshInfo): Promise<ConsensusDocument> => (await fetchConsensus(mesh)).document;

/** Waits (up to `ms`) for a consensus that satisfies `test`. */
export async function consensusWhere(mesh: MeshInfo, test: (document: ConsensusDocument) => boolean, ms = 30_000): Promise<ConsensusDocument> {
  const deadline = Date.now() + ms;
  for (;;) {
    const document = await consensusDocument(mesh).catch(() => null);
    if (document && test(document)) return document;
    if (Date.now() > deadline) throw new Error(`no consensus satisfied the test within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
