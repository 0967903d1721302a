// Token buckets keyed by who is asking (a neighbour, a client address): each key may spend a burst
// at once and then `ratePerSecond` on average. Pure: the caller passes the time. The number of keys
// is bounded, so a flood of made-up keys costs memory no more than `maxKeys` buckets.

export interface RateLimit {
  /** Tokens a key may spend at once. */
  burst: number;
  /** Tokens added per second, up to `burst`. */
  ratePerSecond: number;
}

export type Admission = { ok: true } | { ok: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly limit: RateLimit;
  private readonly maxKeys: number;

  constructor(limit: RateLimit, maxKeys = 4096) {
    if (!(limit.burst >= 1) || !(limit.ratePerSecond > 0)) throw new RangeError("A rate limit needs a burst of at least 1 and a positive rate.");
    this.limit = limit;
    this.maxKeys = maxKeys;
  }

  /** Spends one token of `key` at time `now` (ms), or says how long until one is there. */
  take(key: string, now: number): Admission {
    const bucket = this.refill(key, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil(((1 - bucket.tokens) / this.limit.ratePerSecond) * 1000) };
  }

  private refill(key: string, now: number): Bucket {
    let bucket = this.buckets.get(key);
    if (bucket) {
      // Map order is insertion order: re-inserting keeps the most recently used key last.
      this.buckets.delete(key);
      const elapsed = Math.max(0, now - bucket.at) / 1000;
      bucket = { tokens: Math.min(this.limit.burst, bucket.tokens + elapsed * this.limit.ratePerSecond), at: now };
    } else {
      bucket = { tokens: this.limit.burst, at: now };
      // A key forgotten here comes back with a full burst; the limiter that sits above all keys
      // (a relay's global CREATE2 rate) still bounds what fresh keys can spend together.
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(key, bucket);
    return bucket;
  }
}
