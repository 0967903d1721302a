import { type Registration, fromBase64Url, sealRegistration, toBase64Url } from "@shallot/protocol";
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { dbSnapshot, expectError, loginWith, call, sendJson, shaHex } from "./helpers.ts";

async function serverKey() {
  const response = await call("/key");
  expect(response.status).toBe(200);
  return (await response.json()) as { kem: string; kdf: string; aead: string; keyId: string; ohttpKeyId: number; publicKey: string };
}

const seal = async (body: Registration) => {
  const key = await serverKey();
  return { sealed: await sealRegistration(fromBase64Url(key.publicKey), key.keyId, body) };
};

describe("HPKE-sealed registration", () => {
  it("publishes the key configured as AUTH_HPKE_KEY, with its suite and key id", async () => {
    const key = await serverKey();
    expect(key).toEqual({ kem: "X25519", kdf: "HKDF-SHA256", aead: "AES-128-GCM", keyId: expect.stringMatching(/^[0-9a-f]{16}$/), ohttpKeyId: expect.any(Number), publicKey: env.AUTH_HPKE_PUBLIC_KEY_FOR_TESTS });
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", fromBase64Url(key.publicKey)));
    expect(key.keyId).toBe([...digest.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(""));
    expect(key.ohttpKeyId).toBe(digest[0]);
  });

  it("opens a sealed body and stores the registration inside", async () => {
    const hash = await shaHex("sha384", "sealed pw");
    const response = await sendJson("POST", "/register", await seal({ username: "sealy", mechanism: "sha384", hash }));
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ username: "sealy", mechanism: "sha384" });
    expect(await env.DB.prepare("SELECT password_hash FROM users WHERE username = ?").bind("sealy").first("password_hash")).toBe(hash);
    expect((await loginWith("sealy", "sealed pw")).status).toBe(200);
  });

  it("opens a body sealed directly with @hpke/core under the documented info and no AAD", async () => {
    const key = await serverKey();
    const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });
    const plaintext = JSON.stringify({ username: "direct", mechanism: "sha256", hash: await shaHex("sha256", "pw") });
    const { enc, ct } = await suite.seal(
      { recipientPublicKey: await suite.kem.deserializePublicKey(fromBase64Url(key.publicKey)), info: new TextEncoder().encode("shallot-auth-v1 register") },
      new TextEncoder().encode(plaintext),
    );
    const sealed = { keyId: key.keyId, enc: toBase64Url(new Uint8Array(enc)), ciphertext: toBase64Url(new Uint8Array(ct)) };
    expect((await sendJson("POST", "/register", { sealed })).status).toBe(201);
    expect((await loginWith("direct", "pw")).status).toBe(200);
  });

  it("answers 400 and stores nothing when a sealed body fails to open or holds a bad registration", async () => {
    const good = await seal({ username: "never", mechanism: "sha256", hash: "ab".repeat(32) });
    const flipped = fromBase64Url(good.sealed.ciphertext);
    flipped[flipped.length - 1]! ^= 0x80;
    const otherEnc = await seal({ username: "never", mechanism: "sha256", hash: "ab".repeat(32) });
    const before = await dbSnapshot();
    await expectError(await sendJson("POST", "/register", { sealed: { ...good.sealed, ciphertext: toBase64Url(flipped) } }), 400, "sealed_body_invalid");
    await expectError(await sendJson("POST", "/register", { sealed: { ...good.sealed, enc: otherEnc.sealed.enc } }), 400, "sealed_body_invalid");
    await expectError(await sendJson("POST", "/register", { sealed: { ...good.sealed, keyId: "0123456789abcdef" } }), 400, "unknown_key");
    await expectError(await sendJson("POST", "/register", { sealed: { ...good.sealed, enc: "not base64url!" } }), 400, "invalid_request");
    await expectError(await sendJson("POST", "/register", { sealed: { keyId: good.sealed.keyId } }), 400, "invalid_request");
    await expectError(await sendJson("POST", "/register", { ...good, username: "extra" }), 400, "invalid_request");
    await expectError(await sendJson("POST", "/register", await seal({ username: "never", mechanism: "sha256", hash: "short" } as Registration)), 400, "invalid_request");
    expect(await dbSnapshot()).toEqual(before);
  });

  it("refuses a low-order enc (the all-zero X25519 point) with a 400, not a 500", async () => {
    const before = await dbSnapshot();
    const response = await sendJson("POST", "/register", { sealed: { keyId: (await serverKey()).keyId, enc: "A".repeat(43), ciphertext: "A".repeat(40) } });
    await expectError(response, 400, "sealed_body_invalid");
    expect(await dbSnapshot()).toEqual(before);
  });
});
