// Order statistics of samples, as the bench reports them.

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
const round = (x) => +x.toFixed(2);

/** n, p50, p95, p99 and min of `samples` (ms, or any unit). */
export function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  if (sorted.length === 0) return { n: 0 };
  return { n: sorted.length, p50: round(percentile(sorted, 50)), p95: round(percentile(sorted, 95)), p99: round(percentile(sorted, 99)), min: round(sorted[0]) };
}

/** How much `a` costs over `base`: differences of their percentiles, and ratios. */
export function over(a, base) {
  return { p50: round(a.p50 - base.p50), p95: round(a.p95 - base.p95), ratioP50: round(a.p50 / base.p50), ratioP95: round(a.p95 / base.p95) };
}

/** Milliseconds `fn` took. */
export async function time(fn) {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}
