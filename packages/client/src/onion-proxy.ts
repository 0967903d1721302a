// The CLI's onion proxy: the protocol's OnionProxy (consensus feed, relays that failed, circuit pool,
// retry rule) over Node's fetch, reporting each step as progress. `onion fetch` and `onion proxy`
// both run one.

import { CIRCUIT_REUSE_MS, OnionProxy } from "@shallot/protocol";
import { describeConsensus, describeHop } from "./build-circuit.ts";
import { type DirectoryConfig, fetchConsensus } from "./directory.ts";
import { describeFailure } from "./errors.ts";
import type { Progress } from "./output.ts";
import { httpTransport } from "./transport.ts";

export function cliOnionProxy(config: DirectoryConfig, progress: Progress, options: { reuseMs?: number } = {}): OnionProxy {
  return new OnionProxy({
    transport: httpTransport(),
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
