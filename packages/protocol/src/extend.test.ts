import { describe, expect, it } from "vitest";
import { type Bytes, ByteWriter, concat, utf8 } from "./bytes.ts";
import { MAX_ADDRESS_BYTES, decodeExtend2, encodeExtend2 } from "./extend.ts";
import { NTOR_ONIONSKIN_BYTES } from "./ntor.ts";

const onionskin = Uint8Array.from({ length: NTOR_ONIONSKIN_BYTES }, (_, i) => i);
const raw = (address: Bytes, skin: Bytes = onionskin) => new ByteWriter(2 + address.length + skin.length).u16(address.length).raw(address).raw(skin).bytes;

describe("EXTEND2 bodies", () => {
  it("round-trip address and onionskin and expose the relay id as the onionskin's first 32 bytes", () => {
    const address = "https://relay-2.example.workers.dev/relays/abc";
    const decoded = decodeExtend2(encodeExtend2({ address, onionskin }));
    expect(decoded.address).toBe(address);
    expect(decoded.onionskin).toEqual(onionskin);
    expect(decoded.relayId).toEqual(onionskin.subarray(0, 32));
  });

  it("lay out a u16 address length, the UTF-8 address, then the onionskin", () => {
    const encoded = encodeExtend2({ address: "http://a.b/", onionskin });
    expect(encoded).toEqual(concat(Uint8Array.of(0, 11), utf8("http://a.b/"), onionskin));
  });

  it("refuse to encode an address longer than 2048 bytes", () => {
    const address = `http://a.example/${"x".repeat(MAX_ADDRESS_BYTES)}`;
    expect(() => encodeExtend2({ address, onionskin })).toThrow(expect.objectContaining({ code: "malformed_message" }));
  });

  it.each<[string, Bytes]>([
    ["an empty body", new Uint8Array(0)],
    ["a body with only a length", Uint8Array.of(0, 5)],
    ["a truncated onionskin", raw(utf8("http://a.b/"), onionskin.subarray(1))],
    ["trailing bytes", concat(raw(utf8("http://a.b/")), Uint8Array.of(0))],
    ["an address that is not a URL", raw(utf8("not a url"))],
    ["a relative address", raw(utf8("/relays/1"))],
    ["a non-http address", raw(utf8("file:///etc/passwd"))],
    ["an address that is not UTF-8", raw(Uint8Array.of(0x68, 0xff, 0xfe))],
    ["an address length over 2048", raw(utf8(`http://a.b/${"x".repeat(MAX_ADDRESS_BYTES)}`))],
  ])("refuse to decode %s with malformed_message", (_, body) => {
    expect(() => decodeExtend2(body)).toThrow(expect.objectContaining({ name: "ProtocolError", code: "malformed_message" }));
  });
});
