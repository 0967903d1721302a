// Reads a body into memory, giving up (null) as soon as it passes `limit` bytes; and a request's
// body charged to the isolate's budget as it arrives, within a deadline.

import { DeadlineError, concat, readStreamWithin, withDeadline } from "@shallot/protocol";
import { type Claim, claimBodyHeld, holdBodyBytes, releaseBodyBytes } from "./inflight.ts";

/**
 * A message's body within `limit` bytes: one arrayBuffer() when its length is declared and the
 * runtime will not decode it, else streamed and counted (fetch() inflates a compressed response,
 * so its content-length says nothing of the bytes that come out).
 */
export async function readBodyLimited(message: Request | Response, limit: number): Promise<Uint8Array<ArrayBuffer> | null> {
  const declared = message.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared) && !message.headers.has("content-encoding")) {
    if (Number(declared) > limit) {
      await message.body?.cancel().catch(() => {});
      return null;
    }
    // The runtime enforces a declared length, so this read cannot grow past it.
    return new Uint8Array(await message.arrayBuffer());
  }
  return readStreamWithin(message.body, limit);
}

/** too_large: past `limit`; busy: the budget is spent; timeout: not all in by the deadline; broken: the sender broke off. */
export type BodyRefusal = "too_large" | "busy" | "timeout" | "broken";

export type ChargedBody = { ok: true; body: Uint8Array<ArrayBuffer>; claim: Claim } | { ok: false; reason: BodyRefusal };

export interface ChargeOptions {
  limit: number;
  /** Charged per byte that arrives: the copies the caller will hold of it. */
  copies: number;
  /** The isolate's budget (MAX_INFLIGHT_BYTES); bodies may hold half of it. */
  budget: number;
  timeoutMs: number;
}

const NOTHING_HELD: Claim = { release() {} };

/**
 * A request's body, charged to the isolate's budget as its bytes arrive and never for bytes that
 * have not: a sender that declares 8 MiB and sends one byte holds one byte, and only until the
 * deadline, so a few stalled uploads cannot spend the budget every circuit shares.
 */
export async function readBodyCharged(request: Request, options: ChargeOptions): Promise<ChargedBody> {
  if (request.body === null) return { ok: true, body: new Uint8Array(0), claim: NOTHING_HELD };
  const reader = request.body.getReader();
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let total = 0;
  let charged = 0;
  let failure: BodyRefusal | null;
  try {
    // One deadline for the whole body. At it the reader is cancelled (a pending read then ends),
    // and nothing more is charged: what was is released below.
    failure = await withDeadline(options.timeoutMs, async (signal): Promise<BodyRefusal | null> => {
      signal.addEventListener("abort", () => void reader.cancel().catch(() => {}));
      for (;;) {
        const next = await reader.read();
        if (next.done || signal.aborted) return null;
        total += next.value.length;
        if (total > options.limit) return "too_large";
        const cost = next.value.length * options.copies;
        if (!holdBodyBytes(cost, options.budget)) return "busy";
        charged += cost;
        chunks.push(next.value as Uint8Array<ArrayBuffer>);
      }
    });
  } catch (error) {
    failure = error instanceof DeadlineError ? "timeout" : "broken";
  }
  if (failure !== null) {
    releaseBodyBytes(charged);
    reader.cancel().catch(() => {});
    return { ok: false, reason: failure };
  }
  const body = chunks.length === 1 && chunks[0]!.byteOffset === 0 && chunks[0]!.byteLength === chunks[0]!.buffer.byteLength ? chunks[0]! : concat(...chunks);
  return { ok: true, body, claim: claimBodyHeld(charged) };
}
