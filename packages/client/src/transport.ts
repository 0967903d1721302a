// The client's link to its entry relay: each link cell is a binary POST to `<address>/cell`
// (docs/protocol.md, links), made with Node's fetch. The relay's answer body is the answering cell.

import { type Bytes, type CellTransport, MAX_CELL_BYTES } from "@shallot/protocol";
import { LinkError, networkReason } from "./errors.ts";

/** A RELAY cell's answer waits for the exit's own fetch (30 s by default) through two more hops. */
export const CELL_TIMEOUT_MS = 60_000;

/** Reasons that mean the relay was there and went away mid-request. */
const DROPPED = new Set(["UND_ERR_SOCKET", "ECONNRESET", "EPIPE"]);

export const cellUrl = (address: string): string => `${address.replace(/\/+$/, "")}/cell`;

export function httpTransport(options: { timeoutMs?: number; fetch?: typeof fetch } = {}): CellTransport {
  const send = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? CELL_TIMEOUT_MS;
  return {
    async send(address: string, cell: Bytes): Promise<Bytes> {
      let response: Response;
      try {
        response = await send(cellUrl(address), {
          method: "POST",
          headers: { "content-type": "application/octet-stream" },
          body: cell,
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        const reason = networkReason(error);
        const what = DROPPED.has(reason) ? "dropped the connection" : "could not be reached";
        throw new LinkError("relay_unreachable", `The relay at ${address} ${what} (${reason}).`);
      }
      if (!response.ok) {
        // Relays answer errors as { error, message } (docs/protocol.md, error codes).
        const body = (await response.json().catch(() => null)) as { error?: unknown; message?: unknown } | null;
        const code = typeof body?.error === "string" ? body.error : "link_failed";
        const message = typeof body?.message === "string" ? body.message : `It answered ${response.status}.`;
        throw new LinkError(code, `The relay at ${address} refused the cell (${response.status} ${code}): ${message}`);
      }
      const declared = Number(response.headers.get("content-length") ?? 0);
      if (declared > MAX_CELL_BYTES) throw new LinkError("link_failed", `The relay at ${address} answered more than any cell can hold.`);
      let body: Bytes;
      try {
        body = new Uint8Array(await response.arrayBuffer());
      } catch (error) {
        throw new LinkError("relay_unreachable", `The relay at ${address} dropped the connection (${networkReason(error)}).`);
      }
      if (body.length > MAX_CELL_BYTES) throw new LinkError("link_failed", `The relay at ${address} answered more than any cell can hold.`);
      return body;
    },
  };
}
