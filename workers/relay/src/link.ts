// Carries a link cell to the relay at `address` and returns the cell that answers it. A relay of
// this deployment is reached by RPC on its Durable Object (nothing else of this worker is reachable
// that way); a relay of any other deployment by a binary POST to `<address>/cell`. Every exchange
// has a deadline: a hop that never answers ends the one circuit waiting on it, nothing else.

import * as v from "valibot";
import { CellCommand, MAX_CELL_BYTES, RelayIdSchema } from "@shallot/protocol";
import { DeadlineError, withDeadline } from "./deadline.ts";
import { readBodyLimited } from "./read-limited.ts";
import type { CellResult, Relay } from "./relay.ts";

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
  /** The relay objects of this deployment. */
  relays: DurableObjectNamespace<Relay>;
  /** Relay id of the sender, or undefined when the sender is a client. */
  neighbour?: string;
  /** Deadline of an exchange of a control cell (CREATE2, DESTROY), in ms. */
  timeoutMs: number;
  /** Deadline of an exchange of a RELAY cell, which may wait for the exit's own fetch, in ms. */
  relayTimeoutMs: number;
}

const timedOut = () => new LinkError(504, "link_timeout", "The next relay did not answer in time.");

export async function sendCell(address: string, cell: Uint8Array, options: LinkOptions): Promise<Uint8Array<ArrayBuffer>> {
  const ms = cell[1] === CellCommand.RELAY ? options.relayTimeoutMs : options.timeoutMs;
  if (address.startsWith(options.localPrefix)) {
    const id = address.slice(options.localPrefix.length);
    if (!v.is(RelayIdSchema, id)) throw new LinkError(404, "unknown_relay", "No relay with that id serves here.");
    const stub = options.relays.get(options.relays.idFromName(id));
    let result: CellResult;
    try {
      result = await withDeadline<CellResult>(ms, async () => (await stub.handleCell(cell as Uint8Array<ArrayBuffer>, options.neighbour ?? "client")) as CellResult);
    } catch (error) {
      if (error instanceof DeadlineError) throw timedOut();
      throw new LinkError(502, "link_failed", "The next relay could not be reached.");
    }
    if (!result.ok) throw new LinkError(result.status, result.error, result.message);
    return result.cell as Uint8Array<ArrayBuffer>;
  }
  const headers: Record<string, string> = { "content-type": "application/octet-stream" };
  if (options.neighbour) headers[NEIGHBOUR_HEADER] = options.neighbour;
  const url = `${address}/cell`;
  try {
    // The deadline covers the body as well: a relay that sends headers and then stalls times out too.
    return await withDeadline(ms, async (signal) => {
      const response = await fetch(url, { method: "POST", headers, body: cell, signal });
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
    });
  } catch (error) {
    if (error instanceof LinkError) throw error;
    if (error instanceof DeadlineError) throw timedOut();
    throw new LinkError(502, "link_failed", "The next relay could not be reached.");
  }
}
