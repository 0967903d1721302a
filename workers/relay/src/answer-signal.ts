// When a fresh request's answer has gone out to the client: the work a new-circuit request leaves
// behind (the next spare's build, DESTROYs of the circuits it replaced) starts only then.

/** The longest a fresh request's background work waits for its answer to go out (a client that never reads). */
export const ANSWER_WAIT_MS = 2_000;

/** When a request's answer has gone out to the client (onion-proxy's `answered`). */
export interface AnswerSignal {
  sent: Promise<void> | undefined;
  /** The answer's body, watched until the runtime has taken it. */
  watch(bytes: Uint8Array<ArrayBuffer>): BodyInit;
  /** Settles now unless a body is being watched. */
  unlessWatched(): void;
}

/** The signal of a request that leaves no work behind. */
export const NO_SIGNAL: AnswerSignal = { sent: undefined, watch: (bytes) => bytes, unlessWatched: () => {} };

/**
 * A fresh request's signal. Work started as the request ends (the next spare's build, DESTROYs of
 * the circuits it replaced) held its answer back until that work gave the thread back: in the dev
 * mesh, where the relays share the gateway's isolate, a whole build, about 8 ms of every
 * new-circuit request (docs/performance.md).
 */
export function answerSignal(): AnswerSignal {
  let settle!: () => void;
  const sent = new Promise<void>((resolve) => (settle = resolve));
  const timer = setTimeout(settle, ANSWER_WAIT_MS);
  let watching = false;
  const done = () => {
    clearTimeout(timer);
    // A timer of 1 ms: with a timer of 0 the answer still waited for the work (measured); the
    // runtime writes it to its socket only when the thread next waits for I/O.
    setTimeout(settle, 1);
  };
  return {
    sent,
    /**
     * The body through a FixedLengthStream (so the answer keeps its Content-Length): its write
     * settles once the runtime has taken the bytes for the client, or failed to.
     */
    watch(bytes) {
      if (bytes.byteLength === 0) return bytes;
      watching = true;
      const stream = new FixedLengthStream(bytes.byteLength);
      const writer = stream.writable.getWriter();
      void writer
        .write(bytes)
        .then(() => writer.close())
        .catch(() => {})
        .finally(done);
      return stream.readable;
    },
    unlessWatched() {
      if (!watching) done();
    },
  };
}
