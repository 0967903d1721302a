// Reads a body into memory, giving up (null) as soon as it passes `limit` bytes.

import { concat } from "@shallot/protocol";

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
  return readLimited(message.body, limit);
}

export async function readLimited(stream: ReadableStream<Uint8Array> | null, limit: number): Promise<Uint8Array<ArrayBuffer> | null> {
  if (!stream) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value as Uint8Array<ArrayBuffer>);
  }
  return concat(...chunks);
}
