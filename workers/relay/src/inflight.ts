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
  if (bytes > 0 && held + bytes > limit) return null;
  held += bytes;
  return claimHeld(bytes);
}

/** A claim on `bytes` already taken with holdBytes (in pieces, as they arrived). */
export function claimHeld(bytes: number): Claim {
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      held -= bytes;
    },
  };
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
