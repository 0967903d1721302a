// Reads a body into memory, giving up (null) as soon as it passes `limit` bytes.

import { readStreamWithin } from "@shallot/protocol";

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
