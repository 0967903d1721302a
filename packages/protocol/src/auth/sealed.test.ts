import { x25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { describe, expect, it } from "vitest";
import { fromBase64Url, randomBytes, toBase64Url, toHex } from "../bytes.ts";
import type { Registration } from "./schemas.ts";
import { generateAuthKey, importAuthKey, openRegistration, sealRegistration } from "./sealed.ts";

const body: Registration = { username: "alice", mechanism: "sha256", hash: "ab".repeat(32) };

describe("sealed registrations (HPKE)", () => {
  it("derives the public key and key id from the raw private key", async () => {
    const raw = randomBytes(32);
    const key = await importAuthKey(raw);
    expect(key.publicKey).toEqual(x25519.getPublicKey(raw));
    expect(key.keyId).toBe(toHex(sha256(key.publicKey)).slice(0, 16));
  });

  it("opens what it seals and returns the checked registration", async () => {
    const key = await generateAuthKey();
    expect((await importAuthKey(key.rawPrivateKey)).publicKey).toEqual(key.publicKey);
    const sealed = await sealRegistration(key.publicKey, key.keyId, body);
    expect(sealed.enc).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(sealed)).not.toContain(body.hash);
    expect(await openRegistration(key, sealed)).toEqual({ ok: true, registration: body });
  });

  it("refuses another key id, a tampered ciphertext, another recipient and an invalid plaintext", async () => {
    const key = await generateAuthKey();
    const other = await generateAuthKey();
    const sealed = await sealRegistration(key.publicKey, key.keyId, body);
    expect(await openRegistration(key, { ...sealed, keyId: "0".repeat(16) })).toMatchObject({ ok: false, error: "unknown_key" });
    const flipped = fromBase64Url(sealed.ciphertext);
    flipped[0]! ^= 1;
    expect(await openRegistration(key, { ...sealed, ciphertext: toBase64Url(flipped) })).toMatchObject({ ok: false, error: "sealed_body_invalid" });
    const toOther = await sealRegistration(other.publicKey, key.keyId, body);
    expect(await openRegistration(key, toOther)).toMatchObject({ ok: false, error: "sealed_body_invalid" });
    const bad = await sealRegistration(key.publicKey, key.keyId, { ...body, mechanism: "md5" } as unknown as Registration);
    expect(await openRegistration(key, bad)).toMatchObject({ ok: false, error: "invalid_request" });
  });
});
