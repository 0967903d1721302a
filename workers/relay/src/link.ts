// Carries a link cell to the relay at `address` by the link contract (@shallot/protocol link.ts).
// Within this deployment it goes over the worker's own service binding (ctx.exports); to any other
// deployment by plain fetch, since a relay's address is just a URL.

import { MAX_CELL_BYTES, MAX_ERROR_BODY_BYTES, LinkError, cellRequest, cellUrl, decodeLinkError } from "@shallot/protocol";
import { readBodyLimited } from "./read-limited.ts";

export { LinkError };

export interface LinkOptions {
  /** Origin + path prefix of relays in this deployment, e.g. "http://127.0.0.1:8787/relays/". */
  localPrefix: string;
  /** The loopback service binding to this worker. */
  self: Fetcher;
  /** Relay id of the sender, or undefined when the sender is a client. */
  neighbour?: string;
}

export async function sendCell(address: string, cell: Uint8Array, options: LinkOptions): Promise<Uint8Array<ArrayBuffer>> {
  const init = cellRequest(cell, options.neighbour);
  const url = cellUrl(address);
  const response = address.startsWith(options.localPrefix) ? await options.self.fetch(url, init) : await fetch(url, init);
  if (!response.ok) {
    // Any URL can be a next hop: read at most a small error body, never all of it.
    const raw = await readBodyLimited(response, MAX_ERROR_BODY_BYTES).catch(() => null);
    throw decodeLinkError(address, response.status, raw);
  }
  const body = await readBodyLimited(response, MAX_CELL_BYTES);
  if (!body) throw new LinkError(address, 0, "link_failed", `The relay at ${address} answered more than any cell can hold.`);
  return body;
}
