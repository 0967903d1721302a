import { describe, expect, it } from "vitest";
import { ANSWER_WAIT_MS, answerSignal } from "./answer-signal.ts";

/** Milliseconds until `promise` settles, or null if it has not within `ms`. */
async function settlesWithin(promise: Promise<void>, ms: number): Promise<number | null> {
  const started = Date.now();
  let timer: ReturnType<typeof setTimeout> | null = null;
  const settled = await Promise.race([promise.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
  if (timer !== null) clearTimeout(timer);
  return settled ? Date.now() - started : null;
}

describe("answerSignal", () => {
  it("is sent as soon as the request ends when no body is watched (an error, an empty answer)", async () => {
    const signal = answerSignal();
    expect(signal.watch(new Uint8Array(0))).toHaveLength(0);
    signal.unlessWatched();
    expect(await settlesWithin(signal.sent!, 500)).not.toBeNull();
  });

  it("waits for a watched body to be taken, then is sent at once", async () => {
    const signal = answerSignal();
    const body = new Uint8Array(64 * 1024).fill(7);
    const readable = signal.watch(body) as ReadableStream<Uint8Array>;
    signal.unlessWatched();
    // Nobody has read the answer yet: the work it leaves must not start.
    expect(await settlesWithin(signal.sent!, 300)).toBeNull();
    const read = new Uint8Array(await new Response(readable).arrayBuffer());
    expect(read).toEqual(body);
    expect(await settlesWithin(signal.sent!, 500)).not.toBeNull();
  });

  it("gives up waiting after ANSWER_WAIT_MS for a client that never reads", async () => {
    const signal = answerSignal();
    signal.watch(new Uint8Array(64 * 1024));
    signal.unlessWatched();
    const waited = await settlesWithin(signal.sent!, ANSWER_WAIT_MS + 2_000);
    expect(waited).not.toBeNull();
    expect(waited!).toBeGreaterThanOrEqual(ANSWER_WAIT_MS - 100);
  });
});
