// Deadlines for outgoing work. AbortSignal.timeout() would do, but its timer outlives the work it
// guards (keeping an idle Durable Object busy until it fires), so the timer here is cleared as soon
// as the work settles.

export class DeadlineError extends Error {
  override readonly name = "DeadlineError";
}

/** Runs `work` with a signal aborted after `ms`; rejects with DeadlineError when the deadline passes first. */
export function withDeadline<T>(ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  // A set of one: its timer is set now and cleared as soon as the work settles.
  return new DeadlineSet(Date.now).run(ms, work);
}

/** How a DeadlineSet sets and clears its one timer (the runtime's setTimeout when absent). */
export interface DeadlineTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const globalTimers: DeadlineTimers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

interface Pending {
  at: number;
  reject: (error: DeadlineError) => void;
  /** Called first when the deadline passes (run's abort). */
  expired?: (error: DeadlineError) => void;
}

/**
 * Deadlines for many pieces of work on one timer. Under load a relay sends cells many at a time,
 * and a timer set and cleared per cell was about a twentieth of the relay's CPU. The timer is armed
 * for the earliest deadline pending and cleared once nothing is pending, so an idle object is not
 * kept awake. One set per object: a runtime's timer belongs to the context that set it.
 */
export class DeadlineSet {
  private readonly pending = new Set<Pending>();
  private readonly now: () => number;
  private readonly timers: DeadlineTimers;
  private timer: unknown = null;
  private armedAt = Number.POSITIVE_INFINITY;

  constructor(now: () => number, timers: DeadlineTimers = globalTimers) {
    this.now = now;
    this.timers = timers;
  }

  /** `work` gets a signal that is aborted when the deadline passes. */
  run<T>(ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    let started: Promise<T>;
    try {
      started = work(controller.signal);
    } catch (error) {
      started = Promise.reject(error);
    }
    return this.race(ms, started, (error) => controller.abort(error));
  }

  /** Settles as `work` does, or rejects with DeadlineError once `ms` have passed (after `expired`). */
  race<T>(ms: number, work: Promise<T>, expired?: (error: DeadlineError) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = { at: this.now() + ms, reject, expired };
      this.pending.add(entry);
      this.arm(entry.at);
      work.then(
        (value) => {
          this.settle(entry);
          resolve(value);
        },
        (error: unknown) => {
          this.settle(entry);
          reject(error);
        },
      );
    });
  }

  /** Deadlines not yet passed whose work has not settled. */
  get size(): number {
    return this.pending.size;
  }

  /** Whether the timer is set (never while nothing is pending). */
  get armed(): boolean {
    return this.timer !== null;
  }

  private settle(entry: Pending): void {
    if (this.pending.delete(entry) && this.pending.size === 0) this.disarm();
  }

  private arm(at: number): void {
    if (this.timer !== null && this.armedAt <= at) return;
    this.disarm();
    this.armedAt = at;
    this.timer = this.timers.set(() => this.fire(), Math.max(1, at - this.now()));
  }

  private disarm(): void {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
    this.armedAt = Number.POSITIVE_INFINITY;
  }

  private fire(): void {
    this.timer = null;
    this.armedAt = Number.POSITIVE_INFINITY;
    const now = this.now();
    let next = Number.POSITIVE_INFINITY;
    for (const entry of this.pending) {
      if (entry.at <= now) {
        this.pending.delete(entry);
        const error = new DeadlineError("deadline passed");
        entry.expired?.(error);
        entry.reject(error);
      } else next = Math.min(next, entry.at);
    }
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
  }
}
