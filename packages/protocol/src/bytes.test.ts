import { describe, expect, it } from "vitest";
import { ByteReader, ByteWriter, concat, constantTimeEqual, fromBase64Url, fromHex, fromUtf8, toBase64Url, toHex, utf8 } from "./bytes.ts";

describe("hex", () => {
  it("round-trips every byte value in lowercase", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const hex = toHex(all);
    expect(hex).toMatch(/^[0-9a-f]{512}$/);
    expect(fromHex(hex)).toEqual(all);
    expect(fromHex(hex.toUpperCase())).toEqual(all);
  });

  it.each(["abc", "zz", "0x00", " 00", "0g"])("rejects %j", (text) => {
    expect(() => fromHex(text)).toThrow(TypeError);
  });
});

describe("base64url", () => {
  it.each([
    ["", ""],
    ["66", "Zg"],
    ["666f", "Zm8"],
    ["666f6f", "Zm9v"],
    ["fbff", "-_8"],
  ])("encodes %s as %j without padding", (hex, text) => {
    expect(toBase64Url(fromHex(hex))).toBe(text);
    expect(fromBase64Url(text)).toEqual(fromHex(hex));
  });

  it("round-trips inputs longer than one 32 KiB chunk", () => {
    const big = Uint8Array.from({ length: 0x8000 * 2 + 7 }, (_, i) => (i * 31) & 255);
    expect(fromBase64Url(toBase64Url(big))).toEqual(big);
  });

  it.each(["Zg==", "a+b", "a/b", "Z g"])("rejects the non-base64url text %j", (text) => {
    expect(() => fromBase64Url(text)).toThrow(TypeError);
  });
});

describe("utf8", () => {
  it("round-trips text outside ASCII", () => {
    expect(fromUtf8(utf8("échalote 🧅"))).toBe("échalote 🧅");
  });

  it("refuses invalid UTF-8 instead of replacing it", () => {
    expect(() => fromUtf8(Uint8Array.of(0xc3, 0x28))).toThrow(TypeError);
  });
});

describe("concat and constantTimeEqual", () => {
  it("concatenates in order, including empty parts", () => {
    expect(concat(Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3))).toEqual(Uint8Array.of(1, 2, 3));
    expect(concat()).toEqual(new Uint8Array(0));
  });

  it("is true only for equal bytes of equal length", () => {
    expect(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true);
    expect(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false);
    expect(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 0))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });
});

describe("ByteWriter and ByteReader", () => {
  it("write and read big-endian integers and raw bytes", () => {
    const writer = new ByteWriter(1 + 2 + 4 + 8 + 3).u8(0xab).u16(0x0102).u32(0x03040506).u64(0x0708090a0b0c0d0en).raw(Uint8Array.of(9, 8, 7));
    expect(toHex(writer.bytes)).toBe("ab0102030405060708090a0b0c0d0e090807");
    const reader = new ByteReader(writer.bytes);
    expect([reader.u8(), reader.u16(), reader.u32(), reader.u64()]).toEqual([0xab, 0x0102, 0x03040506, 0x0708090a0b0c0d0en]);
    expect(reader.remaining).toBe(3);
    expect(reader.rest()).toEqual(Uint8Array.of(9, 8, 7));
    expect(reader.remaining).toBe(0);
  });

  it("reads a subarray relative to its own offset in the underlying buffer", () => {
    const backing = Uint8Array.of(0xff, 0xff, 0x12, 0x34);
    expect(new ByteReader(backing.subarray(2)).u16()).toBe(0x1234);
  });

  it("throws a RangeError instead of reading past the end", () => {
    const reader = new ByteReader(Uint8Array.of(1, 2, 3));
    expect(() => reader.u32()).toThrow(RangeError);
    expect(() => reader.raw(4)).toThrow(RangeError);
    expect(reader.u16()).toBe(0x0102);
    expect(() => reader.u16()).toThrow(RangeError);
    expect(() => new ByteReader(new Uint8Array(7)).u64()).toThrow(RangeError);
  });
});
