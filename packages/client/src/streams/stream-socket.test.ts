import { EndReason, StreamError } from "@shallot/protocol";
import { describe, expect, it } from "vitest";
import { type StreamLike, streamSocket } from "./stream-socket.ts";

/** A stream whose server has `chunks` to send (then closes, or fails with `end`); it counts what was read. */
function fakeStream(chunks: number, options: { end?: StreamError } = {}) {
  let left = chunks;
  const written: Buffer[] = [];
  const state = { reads: 0, ended: false, closed: false, written };
  const stream: StreamLike = {
    async read() {
      await new Promise((r) => setImmediate(r));
      if (left === 0) {
        if (options.end) throw options.end;
        state.closed = true;
        return null;
      }
      left--;
      state.reads++;
      return new Uint8Array(64 * 1024).fill(left & 0xff);
    },
    async write(bytes) {
      written.push(Buffer.from(bytes));
    },
    async end() {
      state.ended = true;
      state.closed = true;
    },
    get closed() {
      return state.closed;
    },
  };
  return { stream, state };
}

describe("a stream as a Node Duplex", () => {
  it("takes from the stream only what its reader keeps up with", async () => {
    const { stream, state } = fakeStream(1000);
    const socket = streamSocket(stream);
    socket.on("data", () => {});
    socket.pause();
    await new Promise((r) => setTimeout(r, 100));
    // About one cell beyond the buffer: nothing more is read (so no SENDME goes back to the exit).
    expect(state.reads).toBeLessThanOrEqual(3);
    socket.resume();
    await new Promise((r) => socket.once("end", r));
    expect(state.reads).toBe(1000);
  });

  it("ends the readable side when the server closes, and fails it when the exit ends the stream otherwise", async () => {
    const done = streamSocket(fakeStream(2).stream);
    let bytes = 0;
    done.on("data", (chunk: Buffer) => (bytes += chunk.length));
    await new Promise((r) => done.once("end", r));
    expect(bytes).toBe(2 * 64 * 1024);

    const reset = streamSocket(fakeStream(1, { end: new StreamError(EndReason.CONNRESET, "reset") }).stream);
    reset.resume();
    await expect(new Promise((_, reject) => reset.once("error", reject))).rejects.toMatchObject({ reason: EndReason.CONNRESET });
  });

  it("writes in order, and ends the stream (END) when the writable side ends or the Duplex is destroyed", async () => {
    const ending = fakeStream(0);
    const socket = streamSocket(ending.stream);
    socket.write("one ");
    socket.end("two");
    await new Promise((r) => socket.once("finish", r));
    expect(Buffer.concat(ending.state.written).toString()).toBe("one two");
    expect(ending.state.ended).toBe(true);

    const open = fakeStream(1000);
    streamSocket(open.stream).destroy();
    expect(open.state.ended).toBe(true);
  });
});
