import { describe, expect, it } from "vitest";
import { DeadlineError, DeadlineSet, type DeadlineTimers, withDeadline } from "./deadline.ts";

const never = () => new Promise<never>(() => {});
const after = <T>(ms: number, value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));

describe("withDeadline", () => {
  it("settles as the work does when it is in time, value or error", async () => {
    await expect(withDeadline(200, () => after(5, "answer"))).resolves.toBe("answer");
    const refused = new Error("refused");
    await expect(withDeadline(200, () => Promise.reject(refused))).rejects.toBe(refused);
  });

  it("rejects with DeadlineError once the time has passed, and aborts the work's signal with it", async () => {
    const started = performance.now();
    let seen: AbortSignal | undefined;
    const error = await withDeadline(60, (signal) => {
      seen = signal;
      return never();
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlineError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBeInstanceOf(DeadlineError);
  });

  it("clears its timer when the work is done in time: the signal is never aborted afterwards", async () => {
    let seen: AbortSignal | undefined;
    await withDeadline(30, async (signal) => {
      seen = signal;
      return "done";
    });
    await after(80, null);
    expect(seen?.aborted).toBe(false);
  });
});

/** A clock and timers moved by hand, so a test sees every timer the set asks for. */
function manualTime() {
  let now = 0;
  let ids = 0;
  const live = new Map<number, { at: number; fn: () => void }>();
  const counts = { set: 0 };
  const timers: DeadlineTimers = {
    set: (fn, ms) => {
      counts.set++;
      live.set(++ids, { at: now + ms, fn });
      return ids;
    },
    clear: (handle) => void live.delete(handle as number),
  };
  const advance = async (ms: number) => {
    now += ms;
    for (const [id, timer] of [...live]) {
      if (timer.at > now) continue;
      live.delete(id);
      timer.fn();
    }
    await new Promise((resolve) => setTimeout(resolve, 0));
  };
  return { set: new DeadlineSet(() => now, timers), advance, counts, live };
}

/** Records how a promise settled, without awaiting it. */
function watch<T>(promise: Promise<T>) {
  const state: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { value, settled: true }),
    (error: unknown) => Object.assign(state, { error, settled: true }),
  );
  return state;
}

describe("DeadlineSet", () => {
  it("settles as the work does, value or error, and leaves no timer once nothing is pending", async () => {
    const { set, live } = manualTime();
    await expect(set.race(100, Promise.resolve("answer"))).resolves.toBe("answer");
    const refused = new Error("refused");
    await expect(set.race(100, Promise.reject(refused))).rejects.toBe(refused);
    expect(set.size).toBe(0);
    expect(set.armed).toBe(false);
    expect(live.size).toBe(0);
  });

  it("rejects with DeadlineError once its time has passed, not before", async () => {
    const { set, advance } = manualTime();
    const stalled = watch(set.race(100, never()));
    await advance(99);
    expect(stalled.settled).toBe(false);
    await advance(1);
    expect(stalled.error).toBeInstanceOf(DeadlineError);
    expect(set.armed).toBe(false);
  });

  it("keeps a hundred pieces of work in flight on one timer", async () => {
    const { set, advance, counts } = manualTime();
    const answers: Array<() => void> = [];
    const watched = Array.from({ length: 100 }, () => watch(set.race(100, new Promise<void>((resolve) => answers.push(resolve)))));
    expect(counts.set).toBe(1);
    for (const answer of answers.slice(0, 50)) answer();
    await advance(0);
    expect(set.size).toBe(50);
    expect(counts.set).toBe(1);
    await advance(100);
    expect(watched.slice(0, 50).every((w) => w.settled && w.error === undefined)).toBe(true);
    expect(watched.slice(50).every((w) => w.error instanceof DeadlineError)).toBe(true);
  });

  it("meets a shorter deadline that comes after a longer one", async () => {
    const { set, advance } = manualTime();
    const long = watch(set.race(1000, never()));
    const short = watch(set.race(10, never()));
    await advance(10);
    expect(short.error).toBeInstanceOf(DeadlineError);
    expect(long.settled).toBe(false);
    await advance(990);
    expect(long.error).toBeInstanceOf(DeadlineError);
  });

  it("goes on to the next deadline once one has passed", async () => {
    const { set, advance } = manualTime();
    const first = watch(set.race(100, never()));
    await advance(50);
    const second = watch(set.race(100, never()));
    await advance(50);
    expect(first.error).toBeInstanceOf(DeadlineError);
    expect(second.settled).toBe(false);
    await advance(50);
    expect(second.error).toBeInstanceOf(DeadlineError);
  });

  it("aborts the signal of work it runs once the deadline passes, and only then", async () => {
    const { set, advance } = manualTime();
    let late: AbortSignal | undefined;
    let prompt: AbortSignal | undefined;
    const stalled = watch(set.run(100, (signal) => ((late = signal), never())));
    await expect(set.run(100, async (signal) => ((prompt = signal), "done"))).resolves.toBe("done");
    await advance(100);
    expect(stalled.error).toBeInstanceOf(DeadlineError);
    expect(late?.aborted).toBe(true);
    expect(late?.reason).toBeInstanceOf(DeadlineError);
    expect(prompt?.aborted).toBe(false);
    const thrown = new Error("thrown before any await");
    await expect(set.run(100, () => { throw thrown; })).rejects.toBe(thrown);
    expect(set.armed).toBe(false);
  });

  it("runs on the runtime's own timers when given none", async () => {
    const set = new DeadlineSet(() => performance.now());
    const started = performance.now();
    await expect(set.race(40, never())).rejects.toBeInstanceOf(DeadlineError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(35);
    await expect(set.race(200, after(5, "in time"))).resolves.toBe("in time");
    expect(set.armed).toBe(false);
  });
});
