// Carries a link cell to the relay at `address`: a binary POST to `<address>/cell`. Within this
// deployment it goes over the worker's own service binding (ctx.exports); to any other
// deployment by plain fetch, since a relay's address is just a URL.

import { MAX_CELL_BYTES } from "@shallot/protocol";
import { readBodyLimited } from "./read-limited.ts";

export const NEIGHBOUR_HEADER = "onion-neighbour";

export class LinkError extends Error {
  override readonly name = "LinkError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface LinkOptions {
  /** Origin + path prefix of relays in this deployment, e.g. "http://127.0.0.1:8787/relays/". */
  localPrefix: string;
  /** The loopback service binding to this worker. */
  self: Fetcher;
  /** Relay id of the sender, or undefined when the sender is a client. */
  neighbour?: string;
}

export async function sendCell(address: string, cell: Uint8Array, options: LinkOptions): Promise<Uint8Array<ArrayBuffer>> {
  const headers: Record<string, string> = { "content-type": "application/octet-stream" };
  if (options.neighbour) headers[NEIGHBOUR_HEADER] = options.neighbour;
  const init = { method: "POST", headers, body: cell };
  const url = `${address.replace(/\/+$/, "")}/cell`;
  const response = address.startsWith(options.localPrefix) ? await options.self.fetch(url, init) : await fetch(url, init);
  if (!response.ok) {
    // Any URL can be a next hop: read at most a small error body, never all of it.
    const raw = await readBodyLimited(response, 4096).catch(() => null);
    let error: { error?: unknown; message?: unknown } | null = null;
    try {
      error = raw ? JSON.parse(new TextDecoder().decode(raw)) : null;
    } catch {}
    if (typeof error?.error !== "string" || typeof error?.message !== "string") error = null;
    throw new LinkError(response.status, (error?.error as string) ?? "link_failed", (error?.message as string) ?? `The relay answered ${response.status}.`);
  }
  const body = await readBodyLimited(response, MAX_CELL_BYTES);
  if (!body) throw new LinkError(502, "link_failed", "The relay's answer is larger than any cell.");
  return body;
}
