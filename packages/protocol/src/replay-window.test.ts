import { describe, expect, it } from "vitest";
import { REPLAY_WINDOW_SIZE, type ReplayWindow, acceptSequence, emptyReplayWindow } from "./replay-window.ts";

/** Feeds `seqs` in order; returns which were accepted. */
function feed(seqs: number[], start: ReplayWindow = emptyReplayWindow()): boolean[] {
  let window = start;
  return seqs.map((seq) => {
    const next = acceptSequence(window, seq);
    if (next) window = next;
    return next !== null;
  });
}

describe("acceptSequence", () => {
  it("accepts sequence numbers in order", () => {
    expect(feed([1, 2, 3, 4, 5])).toEqual([true, true, true, true, true]);
  });

  it("accepts numbers that arrive out of order within the window", () => {
    expect(feed([5, 1, 3, 2, 4, 36, 5 + 32])).toEqual([true, true, true, true, true, true, true]);
  });

  it("refuses a duplicate, whether it is the highest or an older one", () => {
    expect(feed([1, 2, 3, 3])).toEqual([true, true, true, false]);
    expect(feed([1, 5, 3, 3, 1])).toEqual([true, true, true, false, false]);
  });

  it("refuses a number 32 or more below the highest, even if never seen", () => {
    expect(feed([40, 9, 8])).toEqual([true, true, false]);
    expect(feed([40, 40 - (REPLAY_WINDOW_SIZE - 1), 40 - REPLAY_WINDOW_SIZE])).toEqual([true, true, false]);
  });

  it("forgets everything below the window after a jump of more than 32", () => {
    let window = emptyReplayWindow();
    for (let seq = 1; seq <= 10; seq++) window = acceptSequence(window, seq)!;
    window = acceptSequence(window, 100)!;
    expect(window).toEqual({ highest: 100, bitmap: 1 });
    expect(acceptSequence(window, 10)).toBeNull();
    expect(acceptSequence(window, 68)).toBeNull();
    // 69..99 were never seen and are still inside the window.
    expect(acceptSequence(window, 69)).not.toBeNull();
    expect(acceptSequence(window, 99)).not.toBeNull();
    expect(acceptSequence(window, 100)).toBeNull();
  });

  it("keeps seen numbers across a jump of exactly 31", () => {
    const window = acceptSequence(acceptSequence(emptyReplayWindow(), 1)!, 32)!;
    expect(acceptSequence(window, 1)).toBeNull();
    expect(acceptSequence(window, 2)).not.toBeNull();
  });

  it("does not modify the window it is given", () => {
    const window = acceptSequence(emptyReplayWindow(), 1)!;
    acceptSequence(window, 2);
    expect(window).toEqual({ highest: 1, bitmap: 1 });
  });

  it.each([0, -1, 1.5, Number.NaN, 2 ** 32])("refuses the out-of-range sequence number %d", (seq) => {
    expect(acceptSequence(emptyReplayWindow(), seq)).toBeNull();
  });

  it("accepts the largest u32 sequence number", () => {
    expect(acceptSequence(emptyReplayWindow(), 0xffffffff)).toEqual({ highest: 0xffffffff, bitmap: 1 });
  });

  it("refuses every replay in a long shuffled stream and accepts every first arrival", () => {
    // Deterministic shuffle inside blocks of 16, so each arrival stays within the window.
    const order: number[] = [];
    for (let block = 0; block < 20; block++) for (let i = 0; i < 16; i++) order.push(block * 16 + ((i * 7) % 16) + 1);
    let window = emptyReplayWindow();
    for (const seq of order) {
      const next = acceptSequence(window, seq);
      expect(next).not.toBeNull();
      window = next!;
      expect(acceptSequence(window, seq)).toBeNull();
    }
  });
});
