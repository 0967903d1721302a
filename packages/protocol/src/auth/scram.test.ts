import { hmac } from "@noble/hashes/hmac.js";
import { pbkdf2 } from "@noble/hashes/pbkdf2.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { describe, expect, it } from "vitest";
import { type Bytes, randomBytes, toHex, utf8 } from "../bytes.ts";
import { fromBase64, toBase64 } from "./base64.ts";
import {
  authMessage,
  channelBindingAttribute,
  clientProof,
  escapeScramUsername,
  scramKeys,
  scramVerifier,
  serverSignature,
  verifyClientProof,
  verifyServerSignature,
} from "./scram.ts";

// RFC 7677 §3: the published SCRAM-SHA-256 exchange for user "user", password "pencil".
const RFC7677 = {
  password: "pencil",
  salt: "W22ZaJ0SNY7soEsUEjb6gQ==",
  iterations: 4096,
  authMessage:
    "n=user,r=rOprNGfwEbeRWgbNEkqO," +
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096," +
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
  clientProof: "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  serverSignature: "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
} as const;

// The RFC publishes only the proof and signature; these intermediate values were computed with
// @noble/hashes (nobleScram below) and are pinned so another implementation can check each step.
const RFC7677_KEYS = {
  saltedPassword: "c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d",
  clientKey: "a60fc923d67e8644a92d16b96eda5ef4656b0c725c484374be25535576996e8b",
  storedKey: "586e5df283e6dceb5c3e791d8b8528ec191e664045ce971792e2e6b5bb13e2a6",
  serverKey: "c1f3cbc1c13a9d35a14c0990eed97629ea225863e566a4314ab99f3f00e5d9d5",
} as const;

/** RFC 5802 §3 written out with @noble/hashes, independent of WebCrypto and of scram.ts. */
function nobleScram(password: string, salt: Bytes, iterations: number, message: string) {
  const saltedPassword = pbkdf2(sha256, utf8(password), salt, { c: iterations, dkLen: 32 });
  const clientKey = hmac(sha256, saltedPassword, utf8("Client Key"));
  const storedKey = sha256(clientKey);
  const serverKey = hmac(sha256, saltedPassword, utf8("Server Key"));
  const clientSignature = hmac(sha256, storedKey, utf8(message));
  const proof = clientKey.map((byte, i) => byte ^ clientSignature[i]!);
  return { saltedPassword, clientKey, storedKey, serverKey, proof, serverSignature: hmac(sha256, serverKey, utf8(message)) };
}

describe("SCRAM-SHA-256 against RFC 7677's example", () => {
  it("derives keys whose proof and server signature are the published ones", async () => {
    const keys = await scramKeys(RFC7677.password, fromBase64(RFC7677.salt), RFC7677.iterations);
    expect(toBase64(await clientProof(keys, RFC7677.authMessage))).toBe(RFC7677.clientProof);
    expect(toBase64(await serverSignature(keys.serverKey, RFC7677.authMessage))).toBe(RFC7677.serverSignature);
  });

  it("derives SaltedPassword, ClientKey, StoredKey and ServerKey as @noble/hashes does", async () => {
    const keys = await scramKeys(RFC7677.password, fromBase64(RFC7677.salt), RFC7677.iterations);
    const noble = nobleScram(RFC7677.password, fromBase64(RFC7677.salt), RFC7677.iterations, RFC7677.authMessage);
    expect(keys.saltedPassword).toEqual(noble.saltedPassword);
    expect(keys.clientKey).toEqual(noble.clientKey);
    expect(keys.storedKey).toEqual(noble.storedKey);
    expect(keys.serverKey).toEqual(noble.serverKey);
    expect(toBase64(noble.proof as Bytes)).toBe(RFC7677.clientProof);
    expect({
      saltedPassword: toHex(keys.saltedPassword),
      clientKey: toHex(keys.clientKey),
      storedKey: toHex(keys.storedKey),
      serverKey: toHex(keys.serverKey),
    }).toEqual(RFC7677_KEYS);
  });

  it("accepts the RFC's proof on the server side from StoredKey alone", async () => {
    const { storedKey, serverKey } = await scramVerifier(RFC7677.password, fromBase64(RFC7677.salt), RFC7677.iterations);
    expect(await verifyClientProof(storedKey, RFC7677.authMessage, fromBase64(RFC7677.clientProof))).toBe(true);
    expect(await verifyServerSignature(serverKey, RFC7677.authMessage, fromBase64(RFC7677.serverSignature))).toBe(true);
  });
});

describe("SCRAM over this API", () => {
  it("builds RFC 7677's AuthMessage from its client nonce and whole nonce", () => {
    expect(authMessage({ username: "user", clientNonce: "rOprNGfwEbeRWgbNEkqO", nonce: "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", salt: RFC7677.salt, iterations: 4096 })).toBe(
      RFC7677.authMessage,
    );
  });

  it("builds the documented AuthMessage, escaping ',' and '=' in the username", () => {
    expect(authMessage({ username: "a,b=c", clientNonce: "00", nonce: "00ff", salt: "c2FsdA==", iterations: 4096 })).toBe(
      "n=a=2Cb=3Dc,r=00,r=00ff,s=c2FsdA==,i=4096,c=biws,r=00ff",
    );
    expect(escapeScramUsername("=,")).toBe("=3D=2C");
  });

  it("binds the exchange to the server key of an Oblivious HTTP channel: c = base64(\"p=shallot-ohttp,,\" ‖ key)", () => {
    const key = new Uint8Array(32).fill(0xab);
    const expected = Buffer.concat([Buffer.from("p=shallot-ohttp,,"), key]).toString("base64");
    expect(channelBindingAttribute(key)).toBe(expected);
    expect(channelBindingAttribute()).toBe(Buffer.from("n,,").toString("base64"));
    expect(authMessage({ username: "u", clientNonce: "00", nonce: "00ff", salt: "c2FsdA==", iterations: 4096, channelBinding: key })).toBe(
      `n=u,r=00,r=00ff,s=c2FsdA==,i=4096,c=${expected},r=00ff`,
    );
  });

  it("matches an independent computation for a random salt and nonce", async () => {
    const salt = randomBytes(16);
    const message = authMessage({ username: "alice", clientNonce: "cd".repeat(16), nonce: "cd".repeat(16) + "ab".repeat(32), salt: toBase64(salt), iterations: 4096 });
    const keys = await scramKeys("correct horse", salt, 4096);
    const noble = nobleScram("correct horse", salt, 4096, message);
    expect(await clientProof(keys, message)).toEqual(noble.proof);
    expect(await serverSignature(keys.serverKey, message)).toEqual(noble.serverSignature);
  });

  it("refuses a wrong password, a proof for another message and a bad server signature", async () => {
    const salt = randomBytes(16);
    const message = authMessage({ username: "alice", clientNonce: "cd".repeat(16), nonce: "cd".repeat(16) + "01".repeat(32), salt: toBase64(salt), iterations: 4096 });
    const right = await scramKeys("right", salt, 4096);
    const wrong = await scramKeys("wrong", salt, 4096);
    expect(await verifyClientProof(right.storedKey, message, await clientProof(right, message))).toBe(true);
    expect(await verifyClientProof(right.storedKey, message, await clientProof(wrong, message))).toBe(false);
    expect(await verifyClientProof(right.storedKey, `${message}x`, await clientProof(right, message))).toBe(false);
    expect(await verifyClientProof(right.storedKey, message, new Uint8Array(31))).toBe(false);
    expect(await verifyServerSignature(right.serverKey, message, await serverSignature(wrong.serverKey, message))).toBe(false);
    // The stored values alone do not make a valid proof: using StoredKey as if it were ClientKey fails.
    expect(await verifyClientProof(right.storedKey, message, await clientProof({ clientKey: right.storedKey, storedKey: right.storedKey }, message))).toBe(false);
  });

  it("refuses iteration counts outside 4096..100000", async () => {
    await expect(scramKeys("p", randomBytes(16), 4095)).rejects.toThrow(RangeError);
    await expect(scramKeys("p", randomBytes(16), 100_001)).rejects.toThrow(RangeError);
    await expect(scramKeys("p", randomBytes(16), 4096.5)).rejects.toThrow(RangeError);
  });
});
