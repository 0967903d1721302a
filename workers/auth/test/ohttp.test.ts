import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import {
  type AuthChannel,
  type Bytes,
  decodeKeyConfig,
  fromBase64Url,
  loginAccount,
  logoutAccount,
  ohttpChannel,
  registerAccount,
  rotateAccount,
} from "@shallot/protocol";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bearer, call, dbSnapshot, expectError, getChallenge, registerScram, scramAnswer, sendJson } from "./helpers.ts";

const publicKey = () => fromBase64Url(env.AUTH_HPKE_PUBLIC_KEY_FOR_TESTS);
const post = (body: Bytes, contentType = "message/ohttp-req") => call("/ohttp", { method: "POST", headers: { "content-type": contentType }, body });

/** The protocol's channel, pinned to the test server's key, POSTing to this Worker; it records what crossed. */
async function channel(key = publicKey()) {
  const wire: { request: Bytes; response: Bytes }[] = [];
  const ch = await ohttpChannel({ url: "http://auth.test", publicKey: key }, async (body) => {
    const response = await post(body);
    const bytes = new Uint8Array(await response.arrayBuffer());
    wire.push({ request: body, response: bytes });
    return { status: response.status, contentType: response.headers.get("content-type"), body: bytes };
  });
  return { ch, wire };
}

const text = new TextEncoder();
const u16 = (n: number) => [n >> 8, n & 0xff];
/** RFC 9292 known-length request, written out by hand: varint lengths below 64 are one byte. */
function handBinaryRequest(path: string, json: string): Uint8Array {
  const str = (s: string) => [s.length, ...text.encode(s)];
  const field = [...str("content-type"), ...str("application/json")];
  const body = [...text.encode(json)];
  return Uint8Array.from([0, ...str("POST"), ...str("https"), ...str("auth.test"), ...str(path), field.length, ...field, ...(body.length < 64 ? [body.length] : [0x40 | (body.length >> 8), body.length & 0xff]), ...body, 0]);
}

describe("POST /ohttp (Oblivious HTTP, RFC 9458)", () => {
  it("serves its key configuration at /.well-known/ohttp-gateway, matching the pinned key", async () => {
    const response = await call("/.well-known/ohttp-gateway");
    expect(response.headers.get("content-type")).toBe("application/ohttp-keys");
    const bytes = new Uint8Array(await response.arrayBuffer());
    expect((bytes[0]! << 8) | bytes[1]!).toBe(bytes.length - 2);
    const config = decodeKeyConfig(bytes.slice(2));
    expect(config.publicKey).toEqual(publicKey());
    expect(config.keyId).toBe(new Uint8Array(await crypto.subtle.digest("SHA-256", publicKey()))[0]);
  });

  it("answers a request encapsulated by hand with @hpke/core, as the RFC says, under the exported response key", async () => {
    await registerScram("by-hand", "pw");
    const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });
    const keyId = new Uint8Array(await crypto.subtle.digest("SHA-256", publicKey()))[0]!;
    const hdr = Uint8Array.from([keyId, ...u16(0x20), ...u16(1), ...u16(1)]);
    const info = Uint8Array.from([...text.encode("message/bhttp request"), 0, ...hdr]);
    const sender = await suite.createSenderContext({ recipientPublicKey: await suite.kem.deserializePublicKey(publicKey()), info });
    const ct = new Uint8Array(await sender.seal(handBinaryRequest("/challenge", JSON.stringify({ username: "by-hand", clientNonce: "ab".repeat(16) }))));
    const response = await post(Uint8Array.from([...hdr, ...new Uint8Array(sender.enc), ...ct]));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("message/ohttp-res");
    const enc = new Uint8Array(await response.arrayBuffer());
    // RFC 9458 §4.4: secret = Export("message/bhttp response", 16); salt = enc ‖ response_nonce; HKDF "key" and "nonce".
    const secret = await crypto.subtle.importKey("raw", await sender.export(text.encode("message/bhttp response"), 16), "HKDF", false, ["deriveBits"]);
    const salt = Uint8Array.from([...new Uint8Array(sender.enc), ...enc.slice(0, 16)]);
    const key = await crypto.subtle.importKey("raw", await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info: text.encode("key") }, secret, 128), "AES-GCM", false, ["decrypt"]);
    const iv = await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info: text.encode("nonce") }, secret, 96);
    const inner = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv }, key, enc.slice(16)));
    // Binary HTTP response: framing 1, status 200 (varint 0x40c8), then fields, content, padding to 1024.
    expect(inner.length).toBe(1024);
    expect([...inner.slice(0, 3)]).toEqual([1, 0x40, 0xc8]);
    const json = new TextDecoder().decode(inner).match(/\{.*\}/)![0];
    expect(JSON.parse(json)).toMatchObject({ mechanism: "scram-sha-256", nonce: expect.stringMatching(/^(ab){16}[0-9a-f]{64}$/) });
  });

  it("runs the whole account life through the same handlers: register, log in, /me, rotate, log out", async () => {
    const { ch, wire } = await channel();
    const me = (token: string) => ch.send({ method: "GET", path: "/me", token });
    expect(await registerAccount(ch, { username: "oblivious", password: "pw" })).toEqual({ status: 201, body: { username: "oblivious", mechanism: "scram-sha-256" } });
    const login = await loginAccount(ch, { username: "oblivious", password: "pw" });
    expect(login.status).toBe(200);
    const { token } = login.body as { token: string };
    expect(await me(token)).toEqual({ status: 200, body: { username: "oblivious", mechanism: "scram-sha-256" } });
    expect((await rotateAccount(ch, { username: "oblivious", password: "pw" }, { password: "pw2" }, token)).status).toBe(200);
    expect((await loginAccount(ch, { username: "oblivious", password: "pw2" })).status).toBe(200);
    expect(await logoutAccount(ch, token)).toEqual({ status: 200, body: { revoked: true } });
    expect(await me(token)).toMatchObject({ status: 401, body: { error: "invalid_token" } });
    // Every request and every answer on the wire has one length: nothing to tell a name or a step by.
    expect(new Set(wire.map((w) => w.request.length))).toEqual(new Set([7 + 32 + 1024 + 16]));
    expect(new Set(wire.map((w) => w.response.length))).toEqual(new Set([16 + 1024 + 16]));
  });

  it("binds SCRAM to the key the request was encrypted to: a plain-JSON proof is refused inside Oblivious HTTP, and the reverse", async () => {
    await registerScram("bound", "pw");
    const { ch } = await channel();
    // A proof without channel binding (c=biws), sent through Oblivious HTTP: refused.
    const c1 = await getChallenge("bound");
    const plainProof = await scramAnswer("bound", "pw", c1 as Required<typeof c1>);
    expect(await ch.send({ method: "POST", path: "/login", body: { username: "bound", challengeId: c1.challengeId, response: plainProof.proof } })).toMatchObject({ status: 401 });
    // A proof bound to the server key, sent as plain JSON (what a relaying impostor would do): refused.
    const c2 = await getChallenge("bound");
    const cbind = btoa(String.fromCharCode(...text.encode("p=shallot-ohttp,,"), ...publicKey()));
    const boundProof = await scramAnswer("bound", "pw", c2 as Required<typeof c2>, cbind);
    await expectError(await sendJson("POST", "/login", { username: "bound", challengeId: c2.challengeId, response: boundProof.proof }), 401, "invalid_credentials");
    // The same bound proof through Oblivious HTTP logs in.
    const c3 = await getChallenge("bound");
    const good = await scramAnswer("bound", "pw", c3 as Required<typeof c3>, cbind);
    expect(await ch.send({ method: "POST", path: "/login", body: { username: "bound", challengeId: c3.challengeId, response: good.proof } })).toMatchObject({ status: 200 });
  });

  it("answers bad input with a JSON error: plain before decapsulation, encapsulated after", async () => {
    const before = await dbSnapshot();
    await expectError(await post(new Uint8Array(100), "application/json"), 415, "encapsulation_invalid");
    await expectError(await post(new Uint8Array(10)), 400, "encapsulation_invalid");
    const { ch, wire } = await channel();
    await ch.send({ method: "GET", path: "/health" });
    const sent = wire[0]!.request;
    const wrongId = sent.slice();
    wrongId[0] = (wrongId[0]! + 1) % 256;
    await expectError(await post(wrongId), 400, "unknown_key");
    const wrongSuite = sent.slice();
    wrongSuite[6] = 3;
    await expectError(await post(wrongSuite), 400, "unsupported_suite");
    const tampered = sent.slice();
    tampered[tampered.length - 1]! ^= 1;
    await expectError(await post(tampered), 400, "encapsulation_invalid");
    // Inside: an inner /ohttp, a PUT, a body that is not JSON — each an encapsulated JSON error.
    // "//…" would parse as a host (and "//1.2.3.4.5/" not at all): refused inside the encryption, never a 500.
    for (const path of ["/ohttp", "/./ohttp", "/x/../ohttp", "/ohttp/", "/a/./../ohttp", "//", "//1.2.3.4.5/", "//evil/health"]) {
      expect(await ch.send({ method: "POST", path, body: {} }), path).toMatchObject({ status: 400, body: { error: "invalid_request" } });
    }
    expect(await ch.send({ method: "POST", path: "/nowhere", body: {} })).toMatchObject({ status: 404, body: { error: "not_found" } });
    expect(await ch.send({ method: "POST", path: "/challenge", body: "not an object" })).toMatchObject({ status: 400, body: { error: "invalid_request" } });
    expect(await dbSnapshot()).toEqual(before);
  });

  it("is refused by a client pinned to another key: the answer to a request it cannot open is a plain error", async () => {
    const pair = (await crypto.subtle.generateKey({ name: "X25519" }, true, ["deriveBits"])) as CryptoKeyPair;
    const other = new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
    const { ch } = await channel(other);
    await expect(ch.send({ method: "GET", path: "/health" })).rejects.toMatchObject({ code: "not_encapsulated" });
  });

  it("takes the bearer token only from inside the encapsulation", async () => {
    await registerScram("inner-token", "pw", 100_000);
    const { ch } = await channel();
    const { token } = (await loginAccount(ch, { username: "inner-token", password: "pw" })).body as { token: string };
    // The outer request's Authorization header is not the inner one's.
    const bare: AuthChannel = await ohttpChannel({ url: "http://auth.test", publicKey: publicKey() }, async (body) => {
      const response = await call("/ohttp", { method: "POST", headers: { "content-type": "message/ohttp-req", ...bearer(token) }, body });
      return { status: response.status, contentType: response.headers.get("content-type"), body: new Uint8Array(await response.arrayBuffer()) };
    });
    expect(await bare.send({ method: "GET", path: "/me" })).toMatchObject({ status: 401 });
    expect(await bare.send({ method: "GET", path: "/me", token })).toMatchObject({ status: 200 });
  });
});
