// Relay cells are padded to power-of-two buckets, so sizes reveal only a coarse length class.

export const MIN_BUCKET = 512;
export const MAX_BUCKET = 16 * 1024 * 1024;

export function bucketFor(length: number): number {
  let bucket = MIN_BUCKET;
  while (bucket < length) bucket *= 2;
  if (bucket > MAX_BUCKET) throw new RangeError("message larger than the largest bucket");
  return bucket;
}

export function isBucket(length: number): boolean {
  return length >= MIN_BUCKET && length <= MAX_BUCKET && (length & (length - 1)) === 0;
}
