// The I/O of a reachability test (the protocol's testReachability): a GET of the relay's address and
// the link contract to its cell endpoint, as a client (no onion-neighbour header), all within one
// deadline. A relay's address is anybody's URL: redirects are not followed and bodies are bounded.

import { type Descriptor, fetchTransport, type ReachabilityResult, readBodyWithin, testReachability, withDeadline } from "@shallot/protocol";

/** A signed descriptor is well under this. */
const MAX_DESCRIPTOR_BYTES = 16 * 1024;

export async function probeRelay(descriptor: Descriptor, timeoutMs: number): Promise<ReachabilityResult> {
  try {
    return await withDeadline(timeoutMs, (signal) =>
      testReachability(descriptor, {
        fetchDescriptor: async (address) => {
          const response = await fetch(address, { redirect: "manual", signal, headers: { accept: "application/json" } });
          const body = await readBodyWithin(response, MAX_DESCRIPTOR_BYTES);
          if (!response.ok) throw new Error(`answered ${response.status}`);
          if (!body) throw new Error("answered more than a descriptor can be");
          return JSON.parse(new TextDecoder().decode(body));
        },
        transport: fetchTransport({ fetch: (url, init) => fetch(url, { ...init, redirect: "manual", signal }) }),
        clock: () => Date.now(),
      }),
    );
  } catch {
    return { ok: false, reason: `The test did not finish within ${timeoutMs} ms.` };
  }
}
