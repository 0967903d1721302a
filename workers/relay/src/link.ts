// Carries a link cell to the relay at `address` by the link contract (@shallot/protocol link.ts)
// and returns the cell that answers it. A relay of this deployment is reached by RPC on its Durable
// Object (nothing else of this worker is reachable that way); a relay of any other deployment by a
// binary POST to `<address>/cell`. Every exchange has a deadline: a hop that never answers ends the
// one circuit waiting on it, nothing else.

import * as v from "valibot";
import { cellRequest, cellUrl, CLIENT_NEIGHBOUR, DeadlineError, DeadlineSet, decodeLinkError, LinkError, MAX_CELL_BYTES, MAX_ERROR_BODY_BYTES, RelayIdSchema, isRelayCommand, withDeadline } from "@shallot/protocol";
import { readBodyLimited } from "./read-limited.ts";
import type { CellResult, Relay } from "./relay.ts";

export { LinkError };

export interface LinkOptions {
  /** Origin + path prefix of relays in this deployment, e.g. "http://127.0.0.1:8787/relays/". */
  localPrefix: string;
  /** The relay objects of this deployment. */
  relays: DurableObjectNamespace<Relay>;
  /** Relay id of the sender, or undefined when the sender is a client. */
  neighbour?: string;
  /** Deadline of an exchange of a control cell (CREATE2, DESTROY), in ms. */
  timeoutMs: number;
  /** Deadline of an exchange of a RELAY cell, which may wait for the exit's own fetch, in ms. */
  relayTimeoutMs: number;
  /**
   * The sending object's deadlines, one timer for all its calls to relays of this deployment;
   * without it each call has a timer of its own.
   */
  deadlines?: DeadlineSet;
}

const timedOut = (address: string) => new LinkError(address, 0, "link_timeout", `The relay at ${address} did not answer in time.`);

export async function sendCell(address: string, cell: Uint8Array, options: LinkOptions): Promise<Uint8Array<ArrayBuffer>> {
  const ms = isRelayCommand(cell[1]!) ? options.relayTimeoutMs : options.timeoutMs;
  if (address.startsWith(options.localPrefix)) {
    const id = address.slice(options.localPrefix.length);
    if (!v.is(RelayIdSchema, id)) throw new LinkError(address, 404, "unknown_relay", "No relay with that id serves here.");
    const stub = options.relays.get(options.relays.idFromName(id));
    let result: CellResult;
    try {
      const delivering = stub.handleCell(cell as Uint8Array<ArrayBuffer>, options.neighbour ?? CLIENT_NEIGHBOUR) as Promise<unknown> as Promise<CellResult>;
      // The call has its own copy now; this frame need not hold the cell while the answer comes.
      cell = null!;
      result = await (options.deadlines ?? new DeadlineSet(Date.now)).race(ms, delivering);
    } catch (error) {
      if (error instanceof DeadlineError) throw timedOut(address);
      throw new LinkError(address, 0, "link_failed", `The relay at ${address} could not be reached.`);
    }
    if (!result.ok) throw new LinkError(address, result.status, result.error, result.message);
    return result.cell as Uint8Array<ArrayBuffer>;
  }
  try {
    // The deadline covers the body as well: a relay that sends headers and then stalls times out too.
    return await withDeadline(ms, async (signal) => {
      const posting = fetch(cellUrl(address), { ...cellRequest(cell, options.neighbour), signal });
      cell = null!;
      const response = await posting;
      if (!response.ok) {
        // Any URL can be a next hop: read at most a small error body, never all of it.
        const raw = await readBodyLimited(response, MAX_ERROR_BODY_BYTES).catch(() => null);
        throw decodeLinkError(address, response.status, raw);
      }
      const body = await readBodyLimited(response, MAX_CELL_BYTES);
      if (!body) throw new LinkError(address, 0, "link_failed", `The relay at ${address} answered more than any cell can hold.`);
      return body;
    });
  } catch (error) {
    if (error instanceof LinkError) throw error;
    if (error instanceof DeadlineError) throw timedOut(address);
    throw new LinkError(address, 0, "link_failed", `The relay at ${address} could not be reached.`);
  }
}
