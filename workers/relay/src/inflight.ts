// The isolate's budget of bytes held for cells and bodies in flight. Every relay object and the
// gateway in one isolate share its memory (128 MB in production), so the budget is module state:
// past it, new work is refused (503 + Retry-After) instead of the isolate being killed with every
// circuit it carries.

let held = 0;

/** A claim on the budget; release it exactly once, when the bytes are no longer held. */
export interface Claim {
  release(): void;
}

/** Claims `bytes` of the isolate's budget of `limit` bytes, or returns null when that would exceed it. */
export function claimBytes(bytes: number, limit: number): Claim | null {
  if (!holdBytes(bytes, limit)) return null;
  return once(() => releaseBytes(bytes));
}

/** A claim whose release runs `release` the first time only. */
function once(release: () => void): Claim {
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      release();
    },
  };
}

/**
 * Request bodies (a /fetch body and its cell, a cell POSTed to the cell endpoint) are also counted
 * apart, and may hold at most half the budget: senders that stall near the end of their uploads
 * then block other uploads, never the cells and GETs of everyone else.
 */
let bodiesHeld = 0;

/** Holds `bytes` of a request body: false past the body share (half of `limit`) or past `limit`. */
export function holdBodyBytes(bytes: number, limit: number): boolean {
  if (bytes > 0 && bodiesHeld + bytes > Math.floor(limit / 2)) return false;
  if (!holdBytes(bytes, limit)) return false;
  bodiesHeld += bytes;
  return true;
}

/** A claim on `bytes` taken with holdBodyBytes. */
export const claimBodyHeld = (bytes: number): Claim => once(() => releaseBodyBytes(bytes));

export function releaseBodyBytes(bytes: number): void {
  held -= bytes;
  bodiesHeld -= bytes;
}

/** Bytes claimed now (for tests and the status of a relay). */
export const bytesHeld = (): number => held;

/** Holds `bytes` without a claim object (for buffers that come and go in pieces); false past `limit`. */
export function holdBytes(bytes: number, limit: number): boolean {
  if (bytes > 0 && held + bytes > limit) return false;
  held += bytes;
  return true;
}

export function releaseBytes(bytes: number): void {
  held -= bytes;
}
