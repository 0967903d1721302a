import { describe, expect, it } from "vitest";
import { RateLimiter } from "./rate-limit.ts";

describe("RateLimiter", () => {
  it("lets a key spend its burst at once, then refuses with the time until the next token", () => {
    const limiter = new RateLimiter({ burst: 3, ratePerSecond: 2 });
    for (let i = 0; i < 3; i++) expect(limiter.take("a", 0)).toEqual({ ok: true });
    expect(limiter.take("a", 0)).toEqual({ ok: false, retryAfterMs: 500 });
    expect(limiter.take("a", 499)).toMatchObject({ ok: false });
    expect(limiter.take("a", 500)).toEqual({ ok: true });
  });

  it("keeps keys apart: one key's flood does not spend another's tokens", () => {
    const limiter = new RateLimiter({ burst: 2, ratePerSecond: 1 });
    for (let i = 0; i < 10; i++) limiter.take("flooder", 0);
    expect(limiter.take("honest", 0)).toEqual({ ok: true });
  });

  it("refills at the rate and never past the burst", () => {
    const limiter = new RateLimiter({ burst: 2, ratePerSecond: 10 });
    limiter.take("a", 0);
    limiter.take("a", 0);
    // An hour later the bucket holds the burst, not 36 000 tokens.
    expect(limiter.take("a", 3_600_000)).toEqual({ ok: true });
    expect(limiter.take("a", 3_600_000)).toEqual({ ok: true });
    expect(limiter.take("a", 3_600_000)).toMatchObject({ ok: false });
  });

  it("does not go backwards when the clock does", () => {
    const limiter = new RateLimiter({ burst: 1, ratePerSecond: 1 });
    limiter.take("a", 10_000);
    expect(limiter.take("a", 0)).toMatchObject({ ok: false });
  });

  it("bounds the keys it remembers, forgetting the least recently used", () => {
    const limiter = new RateLimiter({ burst: 1, ratePerSecond: 0.001 }, 2);
    limiter.take("a", 0);
    limiter.take("b", 0);
    limiter.take("a", 0); // a is now the most recently used
    limiter.take("c", 0); // evicts b
    expect(limiter.take("a", 0)).toMatchObject({ ok: false });
    expect(limiter.take("b", 0)).toEqual({ ok: true });
  });

  it("refuses a limit that could never admit anything", () => {
    expect(() => new RateLimiter({ burst: 0, ratePerSecond: 1 })).toThrow(RangeError);
    expect(() => new RateLimiter({ burst: 1, ratePerSecond: 0 })).toThrow(RangeError);
  });
});
