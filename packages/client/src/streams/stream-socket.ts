// A stream through a circuit as a Node Duplex, so anything that speaks over a socket (node:tls,
// node:http, a pipe to a local TCP connection) can speak over it. The server's bytes are read from
// the stream only while the Duplex's reader keeps up: what it has not taken is not acknowledged, so
// the exit's window closes and the server is slowed through TCP (docs/protocol.md, flow control).

import { Duplex } from "node:stream";
import { type ClientStream, EndReason, StreamError } from "@shallot/protocol";

/** What the Duplex needs of a ClientStream. */
export type StreamLike = Pick<ClientStream, "read" | "write" | "end" | "closed">;

/**
 * Ending the writable side ends the stream (END DONE): streams have no half-close, as in Tor. The
 * server closing its side ends the readable side; the exit ending the stream for another reason
 * (a reset, the circuit failing) destroys the Duplex with the StreamError.
 */
export function streamSocket(stream: StreamLike): Duplex {
  /** Node asked for bytes (read()) and has not been given any since. */
  let wanted = false;
  let pulling = false;
  const duplex = new Duplex({
    // Chunks are up to one DATA cell: past this mark the pull stops, so about one chunk waits beyond
    // what the reader took.
    readableHighWaterMark: 64 * 1024,
    allowHalfOpen: false,
    read() {
      wanted = true;
      if (pulling) return;
      pulling = true;
      void pull();
    },
    write(chunk: Buffer, _encoding, callback) {
      stream.write(new Uint8Array(chunk)).then(() => callback(), (error: unknown) => callback(error as Error));
    },
    final(callback) {
      stream.end().then(() => callback(), () => callback());
    },
    destroy(error, callback) {
      if (!stream.closed) void stream.end().catch(() => {});
      callback(error);
    },
  });

  async function pull(): Promise<void> {
    try {
      while (wanted) {
        const chunk = await stream.read();
        if (duplex.destroyed) return;
        if (chunk === null) {
          duplex.push(null);
          return;
        }
        // Stop when the reader's buffer is full; Node calls read() again once it drains (or
        // already did, from inside push).
        wanted = false;
        if (duplex.push(chunk)) wanted = true;
      }
    } catch (error) {
      // Our own END (the writable side ended first) is the end of the bytes, not a failure.
      if (error instanceof StreamError && error.reason === EndReason.DONE) duplex.push(null);
      else duplex.destroy(error as Error);
    }
    pulling = false;
  }
  return duplex;
}
