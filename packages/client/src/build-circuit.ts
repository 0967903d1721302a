// One circuit for one user: a path from the verified consensus, built telescopically by the
// protocol's Circuit over our HTTP link, with each hop reported as it joins.

import { Circuit, type CellTransport, type CircuitHop, type ConsensusDocument, selectPath } from "@shallot/protocol";
import { type Progress, formatAge, formatMs, shortId } from "./output.ts";

export const hopRole = (index: number, length: number): string => (index === 0 ? "entry" : index === length - 1 ? "exit" : "middle");

export function describeConsensus(document: ConsensusDocument, directoryUrl: string, now: number): string {
  return `consensus from ${directoryUrl}: ${document.relays.length} relays, published ${formatAge(now - document.published)}, signature verified`;
}

export function describeHop(hop: CircuitHop, index: number, length: number): string {
  return `hop ${index + 1}/${length} ${hopRole(index, length).padEnd(6)} ${shortId(hop.relay.id)}  ${hop.relay.address}  handshake ${formatMs(hop.handshakeMs)}`;
}

/** Picks three distinct relays and builds through them; a failed build leaves nothing behind. */
export async function buildCircuit(
  consensus: ConsensusDocument,
  transport: CellTransport,
  options: { progress: Progress; onHop?: (hop: CircuitHop, index: number, length: number) => void },
): Promise<Circuit> {
  const path = selectPath(consensus.relays);
  options.progress.line(`building a circuit through ${path.length} relays`);
  return Circuit.build(path, transport, {
    clock: () => performance.now(),
    onHop: (hop, index) => {
      options.progress.line(describeHop(hop, index, path.length));
      options.onHop?.(hop, index, path.length);
    },
  });
}
