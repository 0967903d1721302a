// The CLI's onion proxy: the protocol's OnionProxy (consensus feed, relays that failed, entry guards
// kept in the state directory, circuit pool, streams, retry rule) over the WebSocket link, reporting
// each step as progress. `onion fetch`, `onion proxy` and the auth commands (for an https:// server)
// run one.

import { CIRCUIT_REUSE_MS, OnionProxy } from "@shallot/protocol";
import { describeConsensus, describeHop } from "./build-circuit.ts";
import { type NetworkConfig, fetchConsensus } from "./directory.ts";
import { describeFailure } from "./errors.ts";
import { guardFileStore } from "./guard-file.ts";
import { nodeCellCrypto } from "./node-cell-crypto.ts";
import { type Progress, shortId } from "./output.ts";
import { type LinkTransport, linkTransport } from "./transport.ts";

/** An OnionProxy whose close() also closes its links to the entries. */
export class CliOnionProxy extends OnionProxy {
  private readonly link: LinkTransport;

  constructor(options: ConstructorParameters<typeof OnionProxy>[0] & { transport: LinkTransport }) {
    super(options);
    this.link = options.transport;
  }

  override async close(): Promise<void> {
    try {
      await super.close();
    } finally {
      this.link.close();
    }
  }
}

export function cliOnionProxy(config: NetworkConfig, progress: Progress, options: { reuseMs?: number; transport?: LinkTransport } = {}): CliOnionProxy {
  let signers = 0;
  return new CliOnionProxy({
    transport: options.transport ?? linkTransport(),
    consensus: async () => {
      const fetched = await fetchConsensus(config);
      signers = fetched.signers.length;
      return fetched.document;
    },
    clock: Date.now,
    timer: () => performance.now(),
    reuseMs: options.reuseMs ?? CIRCUIT_REUSE_MS,
    guards: guardFileStore(config),
    familyRule: config.familyRule,
    cellCrypto: nodeCellCrypto,
    events: {
      consensus: (document) => progress.line(describeConsensus(document, signers, config.authorities.length, Date.now())),
      path: (path) => progress.line(`building a circuit through ${path.length} relays, entering through guard ${shortId(path[0]!.id)}`),
      hop: (hop, index, length) => progress.line(describeHop(hop, index, length)),
      retry: (error) => progress.line(`${describeFailure(error).message}; trying again on a new circuit`),
    },
  });
}
