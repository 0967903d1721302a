import { createCipheriv, randomFillSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type Bytes, type CellTransport, Circuit, RelayCommand, openRelayCell, sealRelayCell, toHex, webCellCrypto } from "@shallot/protocol";
import { TestRelayHost } from "@shallot/protocol/testing";
import { nodeCellCrypto } from "./node-cell-crypto.ts";

const random = (length: number): Bytes => randomFillSync(new Uint8Array(length));
const nonceAt = (high: Bytes, counter: bigint): Bytes => {
  const nonce = new Uint8Array(16);
  nonce.set(high);
  new DataView(nonce.buffer).setBigUint64(8, counter);
  return nonce;
};
/** OpenSSL's own CTR, whose 128-bit counter carries into the IV's high half. */
const carryingCtr = (key: Bytes, iv: Bytes, data: Bytes) => new Uint8Array(createCipheriv("aes-256-ctr", key, iv).update(data));

async function bothLayers(key: Bytes, nonce: Bytes, data: Bytes) {
  const [ours, web] = await Promise.all([nodeCellCrypto.cipher(key), webCellCrypto.cipher(key)]);
  return { node: toHex(await ours.apply(nonce, data)), web: toHex(await web.apply(nonce, data)) };
}

describe("nodeCellCrypto's layer", () => {
  it("is WebCrypto's AES-256-CTR for every length, partial blocks included", async () => {
    for (const length of [0, 1, 15, 16, 17, 1000, 64 * 1024 + 3, 512 * 1024 + 27]) {
      const { node, web } = await bothLayers(random(32), random(16), random(length));
      expect(node, `length ${length}`).toBe(web);
    }
  });

  it("wraps its counter within the nonce's low 64 bits, as WebCrypto's length: 64 does", async () => {
    const key = random(32);
    const data = random(100 * 16 + 5); // 101 blocks, the last one partial
    const span = 1n << 64n;
    for (const high of [new Uint8Array(8).fill(0xff), random(8)]) {
      // Wrapping after the first block, mid-run, at the last block; exactly fitting; far from it.
      for (const counter of [span - 1n, span - 2n, span - 50n, span - 100n, span - 101n, span - 102n, 0n, 12345n]) {
        const nonce = nonceAt(high, counter);
        const { node, web } = await bothLayers(key, nonce, data);
        expect(node, `counter 2^64 - ${span - counter}`).toBe(web);
        // Where the run crosses the wrap, a carrying counter would have given other bytes.
        if (span - counter < 101n) expect(node).not.toBe(toHex(carryingCtr(key, nonce, data)));
      }
    }
  });

  it("leaves its input as it was and is its own inverse", async () => {
    const cipher = await nodeCellCrypto.cipher(random(32));
    const nonce = random(16);
    const data = random(4096);
    const before = toHex(data);
    const once = await cipher.apply(nonce, data);
    expect(toHex(data)).toBe(before);
    expect(toHex(once)).not.toBe(before);
    expect(toHex(await cipher.apply(nonce, once))).toBe(before);
  });

  it("refuses a key that is not 32 bytes", async () => {
    await expect(nodeCellCrypto.cipher(random(16))).rejects.toThrow(RangeError);
  });
});

describe("nodeCellCrypto's MAC", () => {
  it("signs its parts as one message, the tag WebCrypto gives their concatenation", async () => {
    const raw = random(32);
    const [ours, web] = await Promise.all([nodeCellCrypto.mac(raw), webCellCrypto.mac(raw)]);
    const message = random(70_000);
    const splits = [[message], [message.subarray(0, 0), message], [message.subarray(0, 16), message.subarray(16, 18), message.subarray(18)]];
    for (const parts of splits) expect(toHex(await ours.sign(parts))).toBe(toHex(await web.sign([message])));
    expect(toHex(await ours.sign([message]))).not.toBe(toHex(await (await nodeCellCrypto.mac(random(32))).sign([message])));
  });

  it("seals relay cells that WebCrypto opens, and opens WebCrypto's; a changed byte opens under neither", async () => {
    const raw = random(32);
    const [ours, web] = await Promise.all([nodeCellCrypto.mac(raw), webCellCrypto.mac(raw)]);
    const nonce = random(16);
    const cell = { command: RelayCommand.DATA, seq: 7, data: random(40 * 1024) };
    for (const [seal, open] of [[ours, web], [web, ours]] as const) {
      const sealed = await sealRelayCell(seal, nonce, cell);
      expect(await openRelayCell(open, nonce, sealed)).toEqual(cell);
      sealed[sealed.length - 1]! ^= 1;
      expect(await openRelayCell(open, nonce, sealed)).toBeNull();
      expect(await openRelayCell(seal, nonce, sealed)).toBeNull();
    }
  });
});

describe("a circuit whose client layers with nodeCellCrypto", () => {
  it("is understood both ways by a relay that layers with WebCrypto", async () => {
    const host = new TestRelayHost("http://relays.test");
    const relay = await host.add();
    const transport: CellTransport = {
      send: async (address, cell) => {
        const answer = await host.handle(new Request(`${address}/cell`, { method: "POST", body: cell }));
        if (!answer.ok) throw new Error(`the relay answered ${answer.status}`);
        return new Uint8Array(await answer.arrayBuffer());
      },
    };
    const circuit = await Circuit.build([(await relay.signed()).descriptor], transport, { clock: () => 0, cellCrypto: nodeCellCrypto });
    // The relay peels the request and checks its digest, then seals its refusal, all in WebCrypto;
    // the client reads that refusal through its own layer and digest.
    const result = await circuit.request({ method: "POST", url: "http://origin.test/", headers: [], body: random(300 * 1024) });
    expect(result).toMatchObject({ ok: false, error: { error: "destination_refused" } });
    await circuit.destroy();
    expect(relay.circuits()).toBe(0);
  });
});
