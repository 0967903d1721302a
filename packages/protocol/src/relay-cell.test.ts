import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type Bytes, ByteReader, concat, fromHex, toHex } from "./bytes.ts";
import { webCellCrypto } from "./circuit-keys.ts";
import { ProtocolError } from "./errors.ts";
import { RELAY_HEADER_BYTES, type RelayCell, RelayCommand, openRelayCell, sealRelayCell } from "./relay-cell.ts";

const rawKey = (seed: number): Bytes => Uint8Array.from({ length: 32 }, (_, i) => (seed * 7 + i) & 255);
const hmacKey = (raw: Bytes) => webCellCrypto.mac(raw);
const nonce = fromHex("000102030405060708090a0b0c0d0e0f");
const cell: RelayCell = { command: RelayCommand.REQUEST, seq: 0x01020304, data: new TextEncoder().encode("GET / please") };

/** The digest as docs/protocol.md defines it, recomputed here from the raw key. */
async function digestOf(raw: Bytes, nonceBytes: Bytes, plaintext: Bytes): Promise<Bytes> {
  const zeroed = plaintext.slice();
  zeroed.fill(0, 2, 18);
  return new Uint8Array(createHmac("sha256", raw).update(concat(nonceBytes, zeroed)).digest().subarray(0, 16));
}

describe("sealRelayCell / openRelayCell", () => {
  it("opens what it sealed with the same key and nonce", async () => {
    const mac = await hmacKey(rawKey(1));
    const sealed = await sealRelayCell(mac, nonce, cell);
    expect(await openRelayCell(mac, nonce, sealed)).toEqual(cell);
  });

  it("lays out recognized, digest, seq, command, length, data and zero padding", async () => {
    const raw = rawKey(1);
    const sealed = await sealRelayCell(await hmacKey(raw), nonce, cell);
    expect(sealed.length).toBe(512);
    const reader = new ByteReader(sealed);
    expect(reader.u16()).toBe(0);
    expect(reader.raw(16)).toEqual(await digestOf(raw, nonce, sealed));
    expect(reader.u32()).toBe(cell.seq);
    expect(reader.u8()).toBe(cell.command);
    expect(reader.u32()).toBe(cell.data.length);
    expect(reader.offset).toBe(RELAY_HEADER_BYTES);
    expect(reader.raw(cell.data.length)).toEqual(cell.data);
    expect(reader.rest().every((byte) => byte === 0)).toBe(true);
  });

  it("round-trips every relay command, empty data, and data spanning several buckets", async () => {
    const mac = await hmacKey(rawKey(2));
    for (const command of Object.values(RelayCommand)) {
      for (const length of [0, 485, 486, 5000]) {
        const data = Uint8Array.from({ length }, (_, i) => (i * 5 + command) & 255);
        const sealed = await sealRelayCell(mac, nonce, { command, seq: length + 1, data });
        expect(await openRelayCell(mac, nonce, sealed)).toEqual({ command, seq: length + 1, data });
      }
    }
  });

  it("does not recognize a cell opened with another hop's key", async () => {
    const sealed = await sealRelayCell(await hmacKey(rawKey(1)), nonce, cell);
    expect(await openRelayCell(await hmacKey(rawKey(2)), nonce, sealed)).toBeNull();
  });

  it("does not recognize a cell under a different nonce, so it cannot be replayed under another one", async () => {
    const mac = await hmacKey(rawKey(1));
    const sealed = await sealRelayCell(mac, nonce, cell);
    const other = nonce.slice();
    other[15]! ^= 1;
    expect(await openRelayCell(mac, other, sealed)).toBeNull();
  });

  it("does not recognize a cell with any single bit flipped, padding included", async () => {
    const mac = await hmacKey(rawKey(3));
    const sealed = await sealRelayCell(mac, nonce, cell);
    const failures: number[] = [];
    for (let i = 0; i < sealed.length; i++) {
      const tampered = sealed.slice();
      tampered[i]! ^= 1 << (i % 8);
      if ((await openRelayCell(mac, nonce, tampered)) !== null) failures.push(i);
    }
    expect(failures).toEqual([]);
  });

  it("treats random bytes (what a non-target hop sees) as not recognized", async () => {
    const mac = await hmacKey(rawKey(4));
    for (let i = 0; i < 20; i++) {
      const random = crypto.getRandomValues(new Uint8Array(512));
      random[0] = 0;
      random[1] = 0;
      expect(await openRelayCell(mac, nonce, random)).toBeNull();
    }
  });

  it("refuses a plaintext that is not a bucket size", async () => {
    const mac = await hmacKey(rawKey(1));
    const sealed = await sealRelayCell(mac, nonce, cell);
    await expect(openRelayCell(mac, nonce, sealed.subarray(0, 511))).rejects.toBeInstanceOf(ProtocolError);
    await expect(openRelayCell(mac, nonce, sealed.subarray(0, 511))).rejects.toMatchObject({ code: "malformed_cell" });
  });

  it("refuses an authentic cell whose command is unknown", async () => {
    const raw = rawKey(5);
    const sealed = await sealRelayCell(await hmacKey(raw), nonce, { ...cell, command: 99 as RelayCommand });
    await expect(openRelayCell(await hmacKey(raw), nonce, sealed)).rejects.toMatchObject({ code: "unknown_command" });
  });

  it("refuses an authentic cell whose length field runs past its end", async () => {
    const raw = rawKey(6);
    const sealed = await sealRelayCell(await hmacKey(raw), nonce, cell);
    new DataView(sealed.buffer, sealed.byteOffset).setUint32(23, 512 - RELAY_HEADER_BYTES + 1);
    sealed.set(await digestOf(raw, nonce, sealed), 2);
    await expect(openRelayCell(await hmacKey(raw), nonce, sealed)).rejects.toMatchObject({ code: "malformed_cell" });
    // One byte less is exactly the room there is, and is accepted.
    new DataView(sealed.buffer, sealed.byteOffset).setUint32(23, 512 - RELAY_HEADER_BYTES);
    sealed.set(await digestOf(raw, nonce, sealed), 2);
    expect((await openRelayCell(await hmacKey(raw), nonce, sealed))?.data.length).toBe(512 - RELAY_HEADER_BYTES);
  });

  it("binds the digest to the sequence number", async () => {
    const mac = await hmacKey(rawKey(7));
    const a = await sealRelayCell(mac, nonce, { ...cell, seq: 1 });
    const b = await sealRelayCell(mac, nonce, { ...cell, seq: 2 });
    expect(toHex(a.subarray(2, 18))).not.toBe(toHex(b.subarray(2, 18)));
  });
});
