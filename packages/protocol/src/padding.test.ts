import { describe, expect, it } from "vitest";
import { webCellCrypto } from "./circuit-keys.ts";
import { LARGE_BUCKET_STEP, MAX_BUCKET, MIN_BUCKET, bucketFor, isBucket } from "./padding.ts";
import { MAX_RELAY_DATA, RELAY_HEADER_BYTES, RelayCommand, sealRelayCell } from "./relay-cell.ts";

const hmacKey = () => webCellCrypto.mac(new Uint8Array(32));

describe("bucketFor", () => {
  it.each([
    [0, 512],
    [1, 512],
    [512, 512],
    [513, 1024],
    [1024, 1024],
    [1025, 2048],
    [100_000, 131_072],
    [1024 * 1024, 1024 * 1024],
    [1024 * 1024 + 1, 2 * 1024 * 1024],
    [8 * 1024 * 1024 + 300, 9 * 1024 * 1024],
    [MAX_BUCKET - 1, MAX_BUCKET],
    [MAX_BUCKET, MAX_BUCKET],
  ])("puts %d bytes in the %d-byte bucket", (length, bucket) => {
    expect(bucketFor(length)).toBe(bucket);
  });

  it("refuses anything larger than 9 MiB", () => {
    expect(MAX_BUCKET).toBe(9 * 1024 * 1024);
    expect(() => bucketFor(MAX_BUCKET + 1)).toThrow(RangeError);
  });
});

describe("isBucket", () => {
  it("is true exactly for the powers of two from 512 to 1 MiB and the whole MiB up to 9 MiB", () => {
    const buckets: number[] = [];
    for (let size = MIN_BUCKET; size <= LARGE_BUCKET_STEP; size *= 2) buckets.push(size);
    for (let size = 2 * LARGE_BUCKET_STEP; size <= MAX_BUCKET; size += LARGE_BUCKET_STEP) buckets.push(size);
    expect(buckets).toHaveLength(12 + 8);
    for (const size of buckets) expect(isBucket(size)).toBe(true);
    for (const size of buckets) expect(bucketFor(size)).toBe(size);
  });

  it.each([0, 1, 256, 511, 513, 768, 1000, 3 * 512, 1536 * 1024, 3 * 1024 * 1024 + 512, MAX_BUCKET - 1, MAX_BUCKET + 1, 10 * 1024 * 1024, 16 * 1024 * 1024])("is false for %d", (length) => {
    expect(isBucket(length)).toBe(false);
  });
});

describe("sealing relay cells into buckets", () => {
  it("fills the smallest bucket that holds header and data", async () => {
    const mac = await hmacKey();
    const nonce = new Uint8Array(16);
    const seal = (length: number) => sealRelayCell(mac, nonce, { command: RelayCommand.REQUEST, seq: 1, data: new Uint8Array(length) });
    expect((await seal(0)).length).toBe(512);
    expect((await seal(512 - RELAY_HEADER_BYTES)).length).toBe(512);
    expect((await seal(512 - RELAY_HEADER_BYTES + 1)).length).toBe(1024);
  });

  it("seals the largest message into the largest bucket and refuses one byte more with message_too_large", async () => {
    const mac = await hmacKey();
    const nonce = new Uint8Array(16);
    const largest = await sealRelayCell(mac, nonce, { command: RelayCommand.REQUEST, seq: 1, data: new Uint8Array(MAX_RELAY_DATA) });
    expect(largest.length).toBe(MAX_BUCKET);
    await expect(sealRelayCell(mac, nonce, { command: RelayCommand.REQUEST, seq: 1, data: new Uint8Array(MAX_RELAY_DATA + 1) })).rejects.toMatchObject({
      name: "ProtocolError",
      code: "message_too_large",
    });
  });
});
