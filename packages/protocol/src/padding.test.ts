import { describe, expect, it } from "vitest";
import { MAX_BUCKET, MIN_BUCKET, bucketFor, isBucket } from "./padding.ts";
import { MAX_RELAY_DATA, RELAY_HEADER_BYTES, RelayCommand, sealRelayCell } from "./relay-cell.ts";

const hmacKey = () => crypto.subtle.importKey("raw", new Uint8Array(32), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);

describe("bucketFor", () => {
  it.each([
    [0, 512],
    [1, 512],
    [512, 512],
    [513, 1024],
    [1024, 1024],
    [1025, 2048],
    [100_000, 131_072],
    [MAX_BUCKET - 1, MAX_BUCKET],
    [MAX_BUCKET, MAX_BUCKET],
  ])("puts %d bytes in the %d-byte bucket", (length, bucket) => {
    expect(bucketFor(length)).toBe(bucket);
  });

  it("refuses anything larger than 16 MiB", () => {
    expect(MAX_BUCKET).toBe(16 * 1024 * 1024);
    expect(() => bucketFor(MAX_BUCKET + 1)).toThrow(RangeError);
  });
});

describe("isBucket", () => {
  it("is true exactly for the powers of two from 512 to 16 MiB", () => {
    const buckets: number[] = [];
    for (let size = MIN_BUCKET; size <= MAX_BUCKET; size *= 2) buckets.push(size);
    expect(buckets).toHaveLength(16);
    for (const size of buckets) expect(isBucket(size)).toBe(true);
  });

  it.each([0, 1, 256, 511, 513, 768, 1000, 3 * 512, MAX_BUCKET - 1, MAX_BUCKET + 1, MAX_BUCKET * 2])("is false for %d", (length) => {
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
