// How far a signed timestamp may be from the directory's clock. Bounds how long a captured
// descriptor or retirement can be replayed.

export const FRESHNESS_WINDOW_MS = 5 * 60_000;

export const isFresh = (at: number, now: number): boolean => Math.abs(at - now) <= FRESHNESS_WINDOW_MS;
