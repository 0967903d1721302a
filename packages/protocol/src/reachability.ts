// An authority's reachability test (dir-spec's "reachability testing", in spirit): before voting for
// a relay, fetch the descriptor its address serves and complete a CREATE2 with the onion key it
// publishes, checking the ntor AUTH, then DESTROY the test link. That proves the address serves that
// key: whoever claims an address it cannot answer at, or a key it does not hold, is never listed.
// No I/O of its own: the caller passes the descriptor fetch and the cell transport, each with its
// deadline.

import * as v from "valibot";
import { type CellTransport, Circuit } from "./client.ts";
import { type Descriptor, SignedDescriptorSchema, sameRelay, verifyDescriptor } from "./descriptor.ts";

export interface ReachabilityOptions {
  /** GETs `address` and returns its JSON body; throws when there is no 2xx JSON answer. */
  fetchDescriptor: (address: string) => Promise<unknown>;
  /** A client's link (no neighbour header) to the relay. */
  transport: CellTransport;
  /** Milliseconds, for the test's duration. */
  clock: () => number;
}

export type ReachabilityResult = { ok: true; ms: number } | { ok: false; reason: string };

const describeError = (error: unknown): string => (error instanceof Error ? error.message : String(error)).slice(0, 200);

export async function testReachability(descriptor: Descriptor, options: ReachabilityOptions): Promise<ReachabilityResult> {
  const started = options.clock();
  let served: unknown;
  try {
    served = await options.fetchDescriptor(descriptor.address);
  } catch (error) {
    return { ok: false, reason: `GET of the address failed: ${describeError(error)}` };
  }
  const parsed = v.safeParse(SignedDescriptorSchema, served);
  if (!parsed.success) return { ok: false, reason: "The address does not serve a signed descriptor." };
  if (!sameRelay(parsed.output.descriptor, descriptor)) return { ok: false, reason: "The address serves another relay, address, key or exit policy." };
  if (!(await verifyDescriptor(parsed.output))) return { ok: false, reason: "The descriptor the address serves is not signed by the relay's identity key." };
  let circuit: Circuit;
  try {
    // A one-hop circuit: CREATE2 with the published onion key, and the reply's AUTH checked.
    circuit = await Circuit.build([descriptor], options.transport, { clock: options.clock });
  } catch (error) {
    return { ok: false, reason: `CREATE2 with the published onion key failed: ${describeError(error)}` };
  }
  await circuit.destroy().catch(() => {
    // The test link is erased by the relay's idle expiry anyway.
  });
  return { ok: true, ms: options.clock() - started };
}
