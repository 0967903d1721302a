import { describe, expect, it } from "vitest";
import { fromHex, toBase64Url, toHex, utf8 } from "./bytes.ts";
import { CONSENSUS_SKEW_MS, type ConsensusDocument, signConsensus, verifyConsensus } from "./consensus.ts";
import type { Descriptor } from "./descriptor.ts";
import { ed25519Sign, importEd25519 } from "./x25519.ts";

const NOW = 1_700_000_000_000;

const relay = (n: number): Descriptor => ({
  id: toHex(new Uint8Array(32).fill(n)),
  address: `https://relay-${n}.example/relays/${toHex(new Uint8Array(32).fill(n))}`,
  onionKey: toBase64Url(new Uint8Array(32).fill(n + 100)),
  identityKey: toBase64Url(new Uint8Array(32).fill(n + 200)),
  published: NOW - 1000,
});

const document: ConsensusDocument = { version: 1, published: NOW, validUntil: NOW + 3_600_000, relays: [relay(1), relay(2), relay(3)] };

async function directory() {
  return importEd25519(fromHex("d1".repeat(32)));
}

/** Signs arbitrary text the way the directory does, to reach the checks after the signature. */
async function signText(text: string) {
  const key = await directory();
  return { document: text, signature: toBase64Url(await ed25519Sign(key.privateKey, utf8(`shallot-consensus-v1\n${text}`))) };
}

describe("verifyConsensus", () => {
  it("returns the document when signed by the pinned directory key and fresh", async () => {
    const key = await directory();
    const signed = await signConsensus(document, key.privateKey);
    expect(await verifyConsensus(signed, key.publicKey, NOW)).toEqual(document);
  });

  it("verifies the exact signed text, even when it survives a JSON round trip of the envelope", async () => {
    const key = await directory();
    const signed = JSON.parse(JSON.stringify(await signConsensus(document, key.privateKey))) as unknown;
    expect(await verifyConsensus(signed, key.publicKey, NOW)).toEqual(document);
  });

  it("refuses a document changed after signing with bad_signature", async () => {
    const key = await directory();
    const signed = await signConsensus(document, key.privateKey);
    const tampered = { ...signed, document: signed.document.replace("relay-2.example", "evil-2.example") };
    expect(tampered.document).not.toBe(signed.document);
    await expect(verifyConsensus(tampered, key.publicKey, NOW)).rejects.toMatchObject({ code: "bad_signature" });
  });

  it("refuses a re-serialised document with the same content but different bytes", async () => {
    const key = await directory();
    const signed = await signConsensus(document, key.privateKey);
    const reformatted = { ...signed, document: JSON.stringify(JSON.parse(signed.document), null, 1) };
    await expect(verifyConsensus(reformatted, key.publicKey, NOW)).rejects.toMatchObject({ code: "bad_signature" });
  });

  it("refuses a consensus signed by any key other than the pinned one", async () => {
    const key = await directory();
    const impostor = await importEd25519(fromHex("e2".repeat(32)));
    const signed = await signConsensus(document, impostor.privateKey);
    await expect(verifyConsensus(signed, key.publicKey, NOW)).rejects.toMatchObject({ code: "bad_signature" });
    await expect(verifyConsensus(await signConsensus(document, key.privateKey), impostor.publicKey, NOW)).rejects.toMatchObject({ code: "bad_signature" });
  });

  it("refuses a pinned key of the wrong length with bad_signature rather than crashing", async () => {
    const key = await directory();
    const signed = await signConsensus(document, key.privateKey);
    await expect(verifyConsensus(signed, key.publicKey.subarray(1), NOW)).rejects.toMatchObject({ code: "bad_signature" });
  });

  it("refuses a signature over the bare document, without the context string", async () => {
    const key = await directory();
    const text = JSON.stringify(document);
    const bare = { document: text, signature: toBase64Url(await ed25519Sign(key.privateKey, utf8(text))) };
    await expect(verifyConsensus(bare, key.publicKey, NOW)).rejects.toMatchObject({ code: "bad_signature" });
  });

  it("accepts a consensus up to the tolerated skew after validUntil and refuses it after", async () => {
    const key = await directory();
    const signed = await signConsensus(document, key.privateKey);
    await expect(verifyConsensus(signed, key.publicKey, document.validUntil + CONSENSUS_SKEW_MS)).resolves.toEqual(document);
    await expect(verifyConsensus(signed, key.publicKey, document.validUntil + CONSENSUS_SKEW_MS + 1)).rejects.toMatchObject({ code: "stale_consensus" });
  });

  it.each<[string, unknown]>([
    ["null", null],
    ["a string", "consensus"],
    ["an envelope without a signature", { document: "{}" }],
    ["an envelope with an extra field", { document: "{}", signature: "A".repeat(86), extra: true }],
    ["a signature of the wrong length", { document: "{}", signature: "A".repeat(85) }],
    ["a signature that is not base64url", { document: "{}", signature: `${"A".repeat(85)}+` }],
  ])("refuses %s with malformed_message", async (_, signed) => {
    const key = await directory();
    await expect(verifyConsensus(signed, key.publicKey, NOW)).rejects.toMatchObject({ code: "malformed_message" });
  });

  it.each<[string, string]>([
    ["text that is not JSON", "not json"],
    ["a document of another version", JSON.stringify({ ...document, version: 2 })],
    ["a document with a malformed relay", JSON.stringify({ ...document, relays: [{ ...relay(1), id: "nope" }] })],
    ["a document with an unknown field", JSON.stringify({ ...document, extra: 1 })],
  ])("refuses correctly signed %s with malformed_message", async (_, text) => {
    const key = await directory();
    await expect(verifyConsensus(await signText(text), key.publicKey, NOW)).rejects.toMatchObject({ code: "malformed_message" });
  });
});
