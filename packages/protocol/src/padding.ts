// Relay cells are padded to size buckets, so sizes reveal only a coarse length class: powers of two
// from 512 bytes to 1 MiB, then whole MiB up to 9 MiB (an 8 MiB body and its head). Past 1 MiB the
// steps are linear so that the largest message costs at most 1 MiB of padding, not a doubling: a
// cell is held in memory at every hop.

export const MIN_BUCKET = 512;
/** Where the buckets stop doubling and grow by this much instead. */
export const LARGE_BUCKET_STEP = 1024 * 1024;
export const MAX_BUCKET = 9 * LARGE_BUCKET_STEP;

export function bucketFor(length: number): number {
  if (length > MAX_BUCKET) throw new RangeError("message larger than the largest bucket");
  if (length > LARGE_BUCKET_STEP) return Math.ceil(length / LARGE_BUCKET_STEP) * LARGE_BUCKET_STEP;
  let bucket = MIN_BUCKET;
  while (bucket < length) bucket *= 2;
  return bucket;
}

export function isBucket(length: number): boolean {
  if (length < MIN_BUCKET || length > MAX_BUCKET) return false;
  return length <= LARGE_BUCKET_STEP ? (length & (length - 1)) === 0 : length % LARGE_BUCKET_STEP === 0;
}
