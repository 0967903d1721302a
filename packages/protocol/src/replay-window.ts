// Anti-replay window over relay-cell sequence numbers (the sliding window of RFC 4303 3.4.3):
// cells may arrive out of order on a circuit used concurrently, but never twice.

export const REPLAY_WINDOW_SIZE = 32;

export interface ReplayWindow {
  /** Highest sequence number accepted so far (0: none). */
  highest: number;
  /** Bit i set: `highest - i` was accepted. */
  bitmap: number;
}

export const emptyReplayWindow = (): ReplayWindow => ({ highest: 0, bitmap: 0 });

/** The window after accepting `seq`, or null if `seq` is a replay or too old to tell. */
export function acceptSequence(window: ReplayWindow, seq: number): ReplayWindow | null {
  if (!Number.isInteger(seq) || seq < 1 || seq > 0xffffffff) return null;
  if (seq > window.highest) {
    const shift = seq - window.highest;
    const bitmap = shift >= REPLAY_WINDOW_SIZE ? 1 : ((window.bitmap << shift) | 1) >>> 0;
    return { highest: seq, bitmap };
  }
  const offset = window.highest - seq;
  if (offset >= REPLAY_WINDOW_SIZE) return null;
  const bit = (1 << offset) >>> 0;
  if ((window.bitmap & bit) !== 0) return null;
  return { highest: window.highest, bitmap: (window.bitmap | bit) >>> 0 };
}
