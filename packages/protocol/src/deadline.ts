// Deadlines for outgoing work. AbortSignal.timeout() would do, but its timer outlives the work it
// guards (keeping an idle Durable Object busy until it fires), so the timer here is cleared as soon
// as the work settles.

export class DeadlineError extends Error {
  override readonly name = "DeadlineError";
}

/** Runs `work` with a signal aborted after `ms`; rejects with DeadlineError when the deadline passes first. */
export async function withDeadline<T>(ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | null = null;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort(new DeadlineError("deadline passed"));
      reject(new DeadlineError("deadline passed"));
    }, ms);
  });
  try {
    return await Promise.race([work(controller.signal), expiry]);
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
}
