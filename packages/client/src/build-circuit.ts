// One circuit for one user: the entry is this client's guard, the exit a relay with the Exit flag,
// the middle any other (the family rule keeps each in its own deployment), built telescopically by
// the protocol's Circuit over our HTTP link, with each hop reported as it joins.

import { Circuit, CircuitBuildError, type CellTransport, type CircuitHop, type ConsensusDocument, type Descriptor, type GuardStore, GuardSet, type ListedRelay, buildFailure, selectPath } from "@shallot/protocol";
import { nodeCellCrypto } from "./node-cell-crypto.ts";
import { type Progress, formatAge, formatMs, shortId } from "./output.ts";

export const hopRole = (index: number, length: number): string => (index === 0 ? "entry" : index === length - 1 ? "exit" : "middle");

export function describeConsensus(document: ConsensusDocument, signers: number, authorities: number, now: number): string {
  return `consensus: ${document.relays.length} relays, published ${formatAge(now - document.published)}, signed by ${signers} of ${authorities} authorities`;
}

export const flagsOf = (relay: Descriptor): string => `[${((relay as Partial<ListedRelay>).flags ?? []).join(" ")}]`;

export function describeHop(hop: CircuitHop, index: number, length: number): string {
  return `hop ${index + 1}/${length} ${hopRole(index, length).padEnd(6)} ${shortId(hop.relay.id)}  ${hop.relay.address}  ${flagsOf(hop.relay)}  handshake ${formatMs(hop.handshakeMs)}`;
}

/** Picks the path (guard entry, Exit flag exit) and builds through it; a failed build leaves nothing behind. */
export async function buildCircuit(
  consensus: ConsensusDocument,
  transport: CellTransport,
  options: { progress: Progress; guards: GuardStore; familyRule: boolean; onPath?: (path: ListedRelay[], guards: GuardSet) => void | Promise<void>; onHop?: (hop: CircuitHop, index: number, length: number) => void },
): Promise<Circuit> {
  const guards = new GuardSet(await options.guards.load().catch(() => null));
  const path = selectPath(consensus.relays, { entry: guards.entry(consensus.relays, Date.now()), familyRule: options.familyRule });
  if (guards.takeChanged()) await options.guards.save(guards.state);
  await options.onPath?.(path, guards);
  options.progress.line(`building a circuit through ${path.length} relays, entering through guard ${shortId(path[0]!.id)}`);
  let built = 0;
  const circuit = await Circuit.build(path, transport, {
    clock: () => performance.now(),
    cellCrypto: nodeCellCrypto,
    onHop: (hop, index) => {
      built = index + 1;
      options.progress.line(describeHop(hop, index, path.length));
      options.onHop?.(hop, index, path.length);
    },
  }).catch(async (error: unknown) => {
    // The onion proxy's rule for what a failed build tells: a guard that failed is down from now,
    // and the next run enters through the next guard.
    if (buildFailure(new CircuitBuildError(error, path, built)).down.includes(path[0]!.id)) {
      guards.markDown(path[0]!.id, Date.now());
      if (guards.takeChanged()) await options.guards.save(guards.state).catch(() => {});
    }
    throw error;
  });
  guards.markUp(path[0]!.id);
  if (guards.takeChanged()) await options.guards.save(guards.state);
  return circuit;
}
