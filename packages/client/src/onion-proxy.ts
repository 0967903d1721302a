// The CLI's onion proxy: the protocol's OnionProxy (consensus feed, relays that failed, circuit pool,
// streams, retry rule) over the WebSocket link, reporting each step as progress. `onion fetch`,
// `onion proxy` and the auth commands (for an https:// server) run one.

import { CIRCUIT_REUSE_MS, OnionProxy } from "@shallot/protocol";
import { describeConsensus, describeHop } from "./build-circuit.ts";
import { type DirectoryConfig, fetchConsensus } from "./directory.ts";
import { describeFailure } from "./errors.ts";
import type { Progress } from "./output.ts";
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

export function cliOnionProxy(config: DirectoryConfig, progress: Progress, options: { reuseMs?: number; transport?: LinkTransport } = {}): CliOnionProxy {
  return new CliOnionProxy({
    transport: options.transport ?? linkTransport(),
    consensus: () => fetchConsensus(config),
    clock: Date.now,
    timer: () => performance.now(),
    reuseMs: options.reuseMs ?? CIRCUIT_REUSE_MS,
    events: {
      consensus: (document) => progress.line(describeConsensus(document, config.url, Date.now())),
      path: (path) => progress.line(`building a circuit through ${path.length} relays`),
      hop: (hop, index, length) => progress.line(describeHop(hop, index, length)),
      retry: (error) => progress.line(`${describeFailure(error).message}; trying again on a new circuit`),
    },
  });
}
