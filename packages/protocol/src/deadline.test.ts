import { describe, expect, it } from "vitest";
import { DeadlineError, withDeadline } from "./deadline.ts";

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
