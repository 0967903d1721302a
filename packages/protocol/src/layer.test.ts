import { createCipheriv, createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type Bytes, concat, fromHex, toHex } from "./bytes.ts";
import { CIRCUIT_KEY_BYTES, type Mac, importCircuitKeys, webCellCrypto } from "./circuit-keys.ts";
import { NONCE_BYTES, applyLayer, nextNonce } from "./layer.ts";

const aesKey = (raw: Bytes) => webCellCrypto.cipher(raw);
const hmacKey = (raw: Bytes) => webCellCrypto.mac(raw);
const nodeCtr = (key: Bytes, iv: Bytes, data: Bytes): Bytes => {
  const cipher = createCipheriv("aes-256-ctr", key, iv);
  return new Uint8Array(Buffer.concat([cipher.update(data), cipher.final()]));
};

const key = fromHex("603deb1015ca71be2b73aefd0c0b3a7c30d21081ac13e8e1e97a3f6b7fbd62a6");
// Low 64 bits far from all-ones: WebCrypto's 64-bit counter and Node's 128-bit one agree here.
const nonce = fromHex("f0f1f2f3f4f5f6f70000000000000010");
const plaintext = Uint8Array.from({ length: 1000 }, (_, i) => (i * 17 + 3) & 255);

describe("applyLayer", () => {
  it("matches AES-256-CTR as computed by node:crypto", async () => {
    expect(toHex(await applyLayer(await aesKey(key), nonce, plaintext))).toBe(toHex(nodeCtr(key, nonce, plaintext)));
  });

  it("matches the NIST SP 800-38A F.5.5 AES-256-CTR example", async () => {
    const nistKey = fromHex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
    const iv = fromHex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
    const block = fromHex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
    expect(toHex(await applyLayer(await aesKey(nistKey), iv, block))).toBe("601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5");
  });

  it("wraps the counter within its low 64 bits, unlike a 128-bit counter", async () => {
    const high = fromHex("0011223344556677");
    const nearWrap = concat(high, fromHex("fffffffffffffffe"));
    const data = Uint8Array.from({ length: 64 }, (_, i) => i);
    // Blocks 0-1 use ...fffe and ...ffff; blocks 2-3 continue at ...0000 with the high half unchanged.
    const expected = concat(nodeCtr(key, nearWrap, data.subarray(0, 32)), nodeCtr(key, concat(high, new Uint8Array(8)), data.subarray(32)));
    const ours = await applyLayer(await aesKey(key), nearWrap, data);
    expect(toHex(ours)).toBe(toHex(expected));
    expect(toHex(ours)).not.toBe(toHex(nodeCtr(key, nearWrap, data)));
  });

  it("is its own inverse and preserves length", async () => {
    const cipher = await aesKey(key);
    const once = await applyLayer(cipher, nonce, plaintext);
    expect(once.length).toBe(plaintext.length);
    expect(toHex(once)).not.toBe(toHex(plaintext));
    expect(await applyLayer(cipher, nonce, once)).toEqual(plaintext);
  });

  it("gives unrelated keystreams for different nonces", async () => {
    const cipher = await aesKey(key);
    const other = nonce.slice();
    other[0]! ^= 0x80;
    expect(toHex(await applyLayer(cipher, nonce, new Uint8Array(64)))).not.toBe(toHex(await applyLayer(cipher, other, new Uint8Array(64))));
  });
});

describe("nextNonce", () => {
  it("is HMAC-SHA256(Kn, nonce) cut to 16 bytes", async () => {
    const kn = fromHex("0f".repeat(32));
    const expected = createHmac("sha256", kn).update(nonce).digest().subarray(0, NONCE_BYTES);
    const next = await nextNonce(await hmacKey(kn), nonce);
    expect(next.length).toBe(NONCE_BYTES);
    expect(toHex(next)).toBe(Buffer.from(expected).toString("hex"));
  });

  it("is usable as a WebCrypto counter (a standalone 16-byte buffer is not required)", async () => {
    const next = await nextNonce(await hmacKey(new Uint8Array(32)), nonce);
    expect(await applyLayer(await aesKey(key), next, plaintext)).toEqual(nodeCtr(key, next.slice(), plaintext));
  });
});

describe("importCircuitKeys", () => {
  it("cuts Kf | Kb | Df | Db | Kn from the 160 bytes in that order", async () => {
    const material = Uint8Array.from({ length: CIRCUIT_KEY_BYTES }, (_, i) => i);
    const keys = await importCircuitKeys(material);
    const part = (i: number) => material.subarray(i * 32, (i + 1) * 32);
    const block = new Uint8Array(16);
    expect(await applyLayer(keys.forward.cipher, nonce, block)).toEqual(nodeCtr(part(0), nonce, block));
    expect(await applyLayer(keys.backward.cipher, nonce, block)).toEqual(nodeCtr(part(1), nonce, block));
    const mac = (k: Mac) => k.sign([nonce]).then(toHex);
    const nodeMac = (raw: Bytes) => createHmac("sha256", raw).update(nonce).digest("hex");
    expect(await mac(keys.forward.mac)).toBe(nodeMac(part(2)));
    expect(await mac(keys.backward.mac)).toBe(nodeMac(part(3)));
    expect(await mac(keys.nonce)).toBe(nodeMac(part(4)));
  });

  it("refuses key material of any other length", async () => {
    await expect(importCircuitKeys(new Uint8Array(159))).rejects.toThrow(RangeError);
    await expect(importCircuitKeys(new Uint8Array(161))).rejects.toThrow(RangeError);
  });
});
