import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { describe, expect, it } from "vitest";
import { fromHex, toHex } from "../bytes.ts";
import { decodeBinaryRequest, decodeBinaryResponse, encodeBinaryRequest, encodeBinaryResponse } from "./bhttp.ts";
import { decapsulateRequest, decodeKeyConfig, encapsulateRequest, encodeKeyConfig, encodeKeyConfigs, ohttpKeyId } from "./ohttp.ts";
import { generateAuthKey } from "./sealed.ts";

// RFC 9458 Appendix A: the complete example of a request and a response.
const RFC = {
  privateKey: "3c168975674b2fa8e465970b79c8dcf09f1c741626480bd4c6162fc5b6a98e1a",
  publicKey: "31e1f05a740102115220e9af918f738674aec95f54db6e04eb705aae8e798155",
  keyConfig: "01002031e1f05a740102115220e9af918f738674aec95f54db6e04eb705aae8e79815500080001000100010003",
  request: "00034745540568747470730b6578616d706c652e636f6d012f",
  ephemeralPrivate: "bc51d5e930bda26589890ac7032f70ad12e4ecb37abb1b65b1256c9c48999c73",
  ephemeralPublic: "4b28f881333e7c164ffc499ad9796f877f4e1051ee6d31bad19dec96c208b472",
  encapsulatedRequest:
    "010020000100014b28f881333e7c164ffc499ad9796f877f4e1051ee6d31bad19dec96c208b4726374e469135906992e1268c594d2a10c695d858c40a026e7965e7d86b83dd440b2c0185204b4d63525",
  response: "0140c8",
  responseNonce: "c789e7151fcba46158ca84b04464910d",
  encapsulatedResponse: "c789e7151fcba46158ca84b04464910d86f9013e404feea014e7be4a441f234f857fbd",
};

const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });

describe("Oblivious HTTP (RFC 9458)", () => {
  it("reproduces RFC 9458 Appendix A byte for byte, both ways", async () => {
    const config = decodeKeyConfig(fromHex(RFC.keyConfig));
    expect(config).toEqual({ keyId: 1, publicKey: fromHex(RFC.publicKey) });
    expect(toHex(encodeKeyConfig(config, [[1, 1], [1, 3]]))).toBe(RFC.keyConfig);

    const ephemeral = { privateKey: await suite.kem.deserializePrivateKey(fromHex(RFC.ephemeralPrivate)), publicKey: await suite.kem.deserializePublicKey(fromHex(RFC.ephemeralPublic)) };
    const client = await encapsulateRequest(config, fromHex(RFC.request), ephemeral);
    expect(toHex(client.encapsulated)).toBe(RFC.encapsulatedRequest);

    const server = await decapsulateRequest({ keyId: 1, privateKey: await suite.kem.deserializePrivateKey(fromHex(RFC.privateKey)) }, fromHex(RFC.encapsulatedRequest), fromHex(RFC.responseNonce));
    expect(toHex(server.request)).toBe(RFC.request);
    expect(toHex(await server.sealResponse(fromHex(RFC.response)))).toBe(RFC.encapsulatedResponse);
    expect(toHex(await client.openResponse(fromHex(RFC.encapsulatedResponse)))).toBe(RFC.response);
  });

  it("reads the RFC's truncated Binary HTTP messages (RFC 9292 §3.8)", () => {
    expect(decodeBinaryRequest(fromHex(RFC.request))).toEqual({ method: "GET", scheme: "https", authority: "example.com", path: "/", headers: [], content: new Uint8Array(0) });
    expect(decodeBinaryResponse(fromHex(RFC.response))).toEqual({ status: 200, headers: [], content: new Uint8Array(0) });
  });

  it("round-trips a padded request and response, and refuses non-zero padding", () => {
    const request = { method: "POST", scheme: "https", authority: "auth.example", path: "/login", headers: [["content-type", "application/json"]] as [string, string][], content: new TextEncoder().encode('{"a":1}') };
    const encoded = encodeBinaryRequest(request, 1024);
    expect(encoded.length).toBe(1024);
    expect(decodeBinaryRequest(encoded)).toEqual(request);
    const tampered = encoded.slice();
    tampered[1000] = 1;
    expect(() => decodeBinaryRequest(tampered)).toThrow(/non-zero/);
    const response = { status: 429, headers: [["content-type", "application/json"]] as [string, string][], content: new Uint8Array(300).fill(65) };
    expect(decodeBinaryResponse(encodeBinaryResponse(response, 1024))).toEqual(response);
  });

  it("uses the first byte of SHA-256(public key) as the key id, and serves application/ohttp-keys", async () => {
    const key = await generateAuthKey();
    const keyId = await ohttpKeyId(key.publicKey);
    expect(keyId).toBe(Number.parseInt(key.keyId.slice(0, 2), 16));
    const configs = encodeKeyConfigs([{ keyId, publicKey: key.publicKey }]);
    expect(configs.length).toBe(2 + 41);
    expect((configs[0]! << 8) | configs[1]!).toBe(41);
    expect(decodeKeyConfig(configs.slice(2))).toEqual({ keyId, publicKey: key.publicKey });
  });

  it("refuses another key id, another key, a tampered request and a response from anyone else", async () => {
    const key = await generateAuthKey();
    const other = await generateAuthKey();
    const keyId = await ohttpKeyId(key.publicKey);
    const server = { keyId, privateKey: key.privateKey };
    const client = await encapsulateRequest({ keyId, publicKey: key.publicKey }, new Uint8Array([1, 2, 3]));

    const wrongId = client.encapsulated.slice();
    wrongId[0] = (keyId + 1) % 256;
    await expect(decapsulateRequest(server, wrongId)).rejects.toMatchObject({ code: "unknown_key" });
    const toOther = await encapsulateRequest({ keyId, publicKey: other.publicKey }, new Uint8Array([1, 2, 3]));
    await expect(decapsulateRequest(server, toOther.encapsulated)).rejects.toMatchObject({ code: "decrypt_failed" });
    const flipped = client.encapsulated.slice();
    flipped[flipped.length - 1]! ^= 1;
    await expect(decapsulateRequest(server, flipped)).rejects.toMatchObject({ code: "decrypt_failed" });

    const opened = await decapsulateRequest(server, client.encapsulated);
    const answer = await opened.sealResponse(new Uint8Array([9]));
    expect(await client.openResponse(answer)).toEqual(new Uint8Array([9]));
    // An answer made for another request (a replay) or altered in transit does not open.
    const second = await encapsulateRequest({ keyId, publicKey: key.publicKey }, new Uint8Array([1, 2, 3]));
    await expect(second.openResponse(answer)).rejects.toMatchObject({ code: "decrypt_failed" });
    const altered = answer.slice();
    altered[20]! ^= 1;
    await expect(client.openResponse(altered)).rejects.toMatchObject({ code: "decrypt_failed" });
  });
});
