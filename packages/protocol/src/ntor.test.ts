import { x25519 as nobleX25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { type Bytes, concat, fromHex, toHex, utf8 } from "./bytes.ts";
import { CIRCUIT_KEY_BYTES } from "./circuit-keys.ts";
import { ProtocolError } from "./errors.ts";
import { NTOR_ONIONSKIN_BYTES, NTOR_REPLY_BYTES, PROTOID, ntorClientFinish, ntorClientStart, ntorServer } from "./ntor.ts";
import { type KeyPair, generateX25519, importX25519 } from "./x25519.ts";

const scalar = (label: string): Bytes => sha256(utf8(`ntor test ${label}`)) as Bytes;
const relayId = fromHex("5a".repeat(32));

async function handshake(options: { onion?: KeyPair; x?: KeyPair; y?: KeyPair } = {}) {
  const onion = options.onion ?? (await generateX25519());
  const start = await ntorClientStart(relayId, onion.publicKey, options.x);
  const server = await ntorServer(start.onionskin, { relayId, onionKey: onion }, options.y);
  return { onion, start, server };
}

/** tor-spec 5.1.4 with H(x, t) = HMAC-SHA256(key t, message x), computed with @noble only. */
function specNtor(x: Bytes, y: Bytes, b: Bytes, id: Bytes) {
  const X = nobleX25519.getPublicKey(x);
  const Y = nobleX25519.getPublicKey(y);
  const B = nobleX25519.getPublicKey(b);
  const protoid = utf8(PROTOID);
  const H = (message: Uint8Array, key: string) => hmac(sha256, utf8(key), message);
  // Server: EXP(X,y) | EXP(X,b); client: EXP(Y,x) | EXP(B,x). Both must agree.
  const serverSide = concat(nobleX25519.getSharedSecret(y, X) as Bytes, nobleX25519.getSharedSecret(b, X) as Bytes);
  const clientSide = concat(nobleX25519.getSharedSecret(x, Y) as Bytes, nobleX25519.getSharedSecret(x, B) as Bytes);
  expect(toHex(serverSide)).toBe(toHex(clientSide));
  const secretInput = concat(serverSide, id, B as Bytes, X as Bytes, Y as Bytes, protoid);
  const verify = H(secretInput, `${PROTOID}:verify`);
  const authInput = concat(verify as Bytes, id, B as Bytes, Y as Bytes, X as Bytes, protoid, utf8("Server"));
  const auth = H(authInput, `${PROTOID}:mac`);
  const keySeed = H(secretInput, `${PROTOID}:key_extract`);
  // tor-spec 5.2.2: K_1 = H(m_expand | INT8(1), KEY_SEED), K_(i+1) = H(K_i | m_expand | INT8(i+1), KEY_SEED).
  const mExpand = utf8(`${PROTOID}:key_expand`);
  const blocks: Uint8Array[] = [];
  let previous = new Uint8Array(0);
  for (let i = 1; blocks.length * 32 < CIRCUIT_KEY_BYTES; i++) {
    previous = hmac(sha256, keySeed, concat(previous as Bytes, mExpand, Uint8Array.of(i)));
    blocks.push(previous);
  }
  const keyMaterial = concat(...(blocks as Bytes[])).subarray(0, CIRCUIT_KEY_BYTES);
  // The same thing through @noble's RFC 5869 HKDF, with salt t_key and info m_expand.
  const viaHkdf = hkdf(sha256, secretInput, utf8(`${PROTOID}:key_extract`), mExpand, CIRCUIT_KEY_BYTES);
  expect(toHex(viaHkdf as Bytes)).toBe(toHex(keyMaterial));
  return { X, Y, B, onionskin: concat(id, B as Bytes, X as Bytes), reply: concat(Y as Bytes, auth as Bytes), keyMaterial };
}

// Low-order points of Curve25519 and non-canonical encodings of them (RFC 7748 section 7 warns of these).
const LOW_ORDER = [
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
  "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

describe("ntor handshake", () => {
  it("gives client and relay the same 160 bytes of key material", async () => {
    const { start, server } = await handshake();
    expect(start.onionskin.length).toBe(NTOR_ONIONSKIN_BYTES);
    expect(server.reply.length).toBe(NTOR_REPLY_BYTES);
    expect(server.keyMaterial.length).toBe(CIRCUIT_KEY_BYTES);
    expect(await ntorClientFinish(start.state, server.reply)).toEqual(server.keyMaterial);
  });

  it("uses fresh ephemeral keys, so two handshakes with one relay share no keys", async () => {
    const onion = await generateX25519();
    const a = await handshake({ onion });
    const b = await handshake({ onion });
    expect(toHex(a.start.onionskin.subarray(64))).not.toBe(toHex(b.start.onionskin.subarray(64)));
    expect(toHex(a.server.keyMaterial)).not.toBe(toHex(b.server.keyMaterial));
  });

  it("matches an independent implementation of tor-spec 5.1.4 over @noble/curves and @noble/hashes", async () => {
    for (const label of ["a", "b", "c"]) {
      const [x, y, b] = [scalar(`x${label}`), scalar(`y${label}`), scalar(`b${label}`)];
      const id = sha256(utf8(`relay ${label}`)) as Bytes;
      const expected = specNtor(x, y, b, id);
      const onion = await importX25519(b);
      expect(toHex(onion.publicKey)).toBe(toHex(expected.B as Bytes));
      const start = await ntorClientStart(id, onion.publicKey, await importX25519(x));
      const server = await ntorServer(start.onionskin, { relayId: id, onionKey: onion }, await importX25519(y));
      expect(toHex(start.onionskin)).toBe(toHex(expected.onionskin));
      expect(toHex(server.reply)).toBe(toHex(expected.reply));
      expect(toHex(server.keyMaterial)).toBe(toHex(expected.keyMaterial));
      expect(toHex(await ntorClientFinish(start.state, server.reply))).toBe(toHex(expected.keyMaterial));
    }
  });

  it("agrees with the independent implementation on every published ntor vector", () => {
    const file = JSON.parse(readFileSync(new URL("../test-vectors/ntor.json", import.meta.url), "utf8")) as { vectors: Record<string, string>[] };
    expect(file.vectors.length).toBeGreaterThan(0);
    for (const vector of file.vectors) {
      const expected = specNtor(fromHex(vector.x!), fromHex(vector.y!), fromHex(vector.b!), fromHex(vector.relayId!));
      expect([toHex(expected.onionskin), toHex(expected.reply), toHex(expected.keyMaterial)]).toEqual([vector.onionskin, vector.reply, vector.keyMaterial]);
    }
  });

  it("fails for the client when a man in the middle answers with his own onion key", async () => {
    const genuine = await generateX25519();
    const mitm = await generateX25519();
    const start = await ntorClientStart(relayId, genuine.publicKey);
    // He claims the genuine public key but can only compute with his own private key.
    const forged = await ntorServer(start.onionskin, { relayId, onionKey: { privateKey: mitm.privateKey, publicKey: genuine.publicKey } });
    await expect(ntorClientFinish(start.state, forged.reply)).rejects.toMatchObject({ code: "handshake_failed" });
  });

  it("fails for the client when a man in the middle rewrites the onionskin to his own key", async () => {
    const genuine = await generateX25519();
    const mitm = await generateX25519();
    const start = await ntorClientStart(relayId, genuine.publicKey);
    const rewritten = concat(relayId, mitm.publicKey, start.onionskin.subarray(64));
    const forged = await ntorServer(rewritten, { relayId, onionKey: mitm });
    await expect(ntorClientFinish(start.state, forged.reply)).rejects.toMatchObject({ code: "handshake_failed" });
  });

  it("is refused by a relay when the onionskin names another onion key or relay id", async () => {
    const onion = await generateX25519();
    const other = await generateX25519();
    const toOtherKey = await ntorClientStart(relayId, other.publicKey);
    await expect(ntorServer(toOtherKey.onionskin, { relayId, onionKey: onion })).rejects.toMatchObject({ code: "wrong_relay" });
    const toOtherId = await ntorClientStart(fromHex("5b".repeat(32)), onion.publicKey);
    await expect(ntorServer(toOtherId.onionskin, { relayId, onionKey: onion })).rejects.toMatchObject({ code: "wrong_relay" });
  });

  it("fails when any bit of AUTH or Y is flipped", async () => {
    const { start, server } = await handshake();
    for (const index of [0, 17, 31, 32, 45, 63]) {
      const tampered = server.reply.slice();
      tampered[index]! ^= 0x01;
      await expect(ntorClientFinish(start.state, tampered)).rejects.toMatchObject({ code: "handshake_failed" });
    }
  });

  it("fails on a reply of the wrong length", async () => {
    const { start, server } = await handshake();
    await expect(ntorClientFinish(start.state, server.reply.subarray(0, 63))).rejects.toMatchObject({ code: "handshake_failed" });
    await expect(ntorClientFinish(start.state, concat(server.reply, Uint8Array.of(0)))).rejects.toMatchObject({ code: "handshake_failed" });
  });

  it.each(LOW_ORDER)("is refused by the relay with handshake_failed when X is the low-order point %s", async (point) => {
    const onion = await generateX25519();
    const onionskin = concat(relayId, onion.publicKey, fromHex(point));
    const error = await ntorServer(onionskin, { relayId, onionKey: onion }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code: "handshake_failed" });
  });

  it.each(LOW_ORDER)("is refused by the client with handshake_failed when Y is the low-order point %s", async (point) => {
    const { start, server } = await handshake();
    const reply = concat(fromHex(point), server.reply.subarray(32));
    const error = await ntorClientFinish(start.state, reply).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code: "handshake_failed" });
  });

  it("fails for the client when the consensus gave it a low-order onion key", async () => {
    const start = await ntorClientStart(relayId, new Uint8Array(32));
    await expect(ntorClientFinish(start.state, new Uint8Array(64))).rejects.toMatchObject({ code: "handshake_failed" });
  });

  it("refuses a relay id or onion key of the wrong length at the start", async () => {
    const onion = await generateX25519();
    await expect(ntorClientStart(relayId.subarray(1), onion.publicKey)).rejects.toMatchObject({ code: "handshake_failed" });
    await expect(ntorClientStart(relayId, onion.publicKey.subarray(1))).rejects.toMatchObject({ code: "handshake_failed" });
  });

  it("refuses an onionskin of the wrong length as a malformed cell", async () => {
    const { onion, start } = await handshake();
    await expect(ntorServer(start.onionskin.subarray(1), { relayId, onionKey: onion })).rejects.toMatchObject({ code: "malformed_cell" });
  });
});
