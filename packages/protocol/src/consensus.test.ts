import { describe, expect, it } from "vitest";
import { fromHex, toBase64Url, toHex, utf8 } from "./bytes.ts";
import {
  CONSENSUS_SKEW_MS,
  type ConsensusDocument,
  type ListedRelay,
  type RelayFlag,
  type SignedConsensus,
  checkConsensus,
  serializeConsensus,
  signConsensusText,
  verifyConsensus,
} from "./consensus.ts";
import { type KeyPair, ed25519Sign, importEd25519 } from "./x25519.ts";

const NOW = 1_700_000_000_000;

const relay = (n: number): ListedRelay => ({
  id: toHex(new Uint8Array(32).fill(n)),
  address: `https://relay-${n}.example/relays/${toHex(new Uint8Array(32).fill(n))}`,
  onionKey: toBase64Url(new Uint8Array(32).fill(n + 100)),
  identityKey: toBase64Url(new Uint8Array(32).fill(n + 200)),
  exitPolicy: "public",
  published: NOW - 1000,
  flags: ["Exit", "Running"],
});

/** Three authorities, as the dev mesh runs them. */
const authorities = Promise.all(["a1", "a2", "a3"].map((seed) => importEd25519(fromHex(seed.repeat(32)))));
const keyOf = (pair: KeyPair) => toBase64Url(pair.publicKey);
const pinned = async () => (await authorities).map(keyOf);

const document: ConsensusDocument = { version: 2, published: NOW, validUntil: NOW + 180_000, voters: [], relays: [relay(1), relay(2), relay(3)] };

/** The document signed by the authorities at `indexes`. */
async function signedBy(indexes: number[], text = serializeConsensus(document)): Promise<SignedConsensus> {
  const all = await authorities;
  return { document: text, signatures: await Promise.all(indexes.map((i) => signConsensusText(text, keyOf(all[i]!), all[i]!.privateKey))) };
}

describe("verifyConsensus with three pinned authorities", () => {
  it("accepts a document signed by 2 of 3 and by 3 of 3, and says who signed", async () => {
    const keys = await pinned();
    expect(await verifyConsensus(await signedBy([0, 2]), keys, NOW)).toEqual(document);
    const all = await checkConsensus(await signedBy([0, 1, 2]), keys, NOW);
    expect(all.signers.sort()).toEqual([...keys].sort());
    expect((await checkConsensus(await signedBy([1, 2]), keys, NOW)).signers.sort()).toEqual([keys[1], keys[2]].sort());
  });

  it("refuses a document signed by 1 of 3, or by none, with bad_signature", async () => {
    const keys = await pinned();
    for (const indexes of [[0], [1], [2], []]) {
      await expect(verifyConsensus(await signedBy(indexes), keys, NOW)).rejects.toMatchObject({ code: "bad_signature", message: expect.stringMatching(/from \d of the 3 pinned authorities; more than half \(2\)/) });
    }
  });

  it("counts one authority once, however many times its signature is repeated", async () => {
    const keys = await pinned();
    const once = await signedBy([0]);
    const repeated = { ...once, signatures: [once.signatures[0]!, once.signatures[0]!, once.signatures[0]!] };
    await expect(verifyConsensus(repeated, keys, NOW)).rejects.toMatchObject({ code: "bad_signature" });
  });

  it("ignores signatures of keys that are not pinned, however many", async () => {
    const keys = await pinned();
    const strangers = await Promise.all(["b1", "b2", "b3"].map((seed) => importEd25519(fromHex(seed.repeat(32)))));
    const text = serializeConsensus(document);
    const signed = { document: text, signatures: [...(await signedBy([0])).signatures, ...(await Promise.all(strangers.map((s) => signConsensusText(text, keyOf(s), s.privateKey))))] };
    await expect(verifyConsensus(signed, keys, NOW)).rejects.toMatchObject({ code: "bad_signature" });
  });

  it("does not count a signature filed under another pinned authority's name", async () => {
    const keys = await pinned();
    const all = await authorities;
    const text = serializeConsensus(document);
    const own = await signConsensusText(text, keyOf(all[0]!), all[0]!.privateKey);
    const forged = { document: text, signatures: [own, { authority: keyOf(all[1]!), signature: own.signature }] };
    await expect(verifyConsensus(forged, keys, NOW)).rejects.toMatchObject({ code: "bad_signature" });
  });

  it("refuses a document changed after signing, and one re-serialised with the same content", async () => {
    const keys = await pinned();
    const signed = await signedBy([0, 1, 2]);
    const tampered = { ...signed, document: signed.document.replace("relay-2.example", "evil-2.example") };
    expect(tampered.document).not.toBe(signed.document);
    await expect(verifyConsensus(tampered, keys, NOW)).rejects.toMatchObject({ code: "bad_signature" });
    const reformatted = { ...signed, document: JSON.stringify(JSON.parse(signed.document), null, 1) };
    await expect(verifyConsensus(reformatted, keys, NOW)).rejects.toMatchObject({ code: "bad_signature" });
  });

  it("refuses a signature over the bare document, without the context string", async () => {
    const all = await authorities;
    const text = serializeConsensus(document);
    const bare = { document: text, signatures: await Promise.all(all.map(async (a) => ({ authority: keyOf(a), signature: toBase64Url(await ed25519Sign(a.privateKey, utf8(text))) }))) };
    await expect(verifyConsensus(bare, await pinned(), NOW)).rejects.toMatchObject({ code: "bad_signature" });
  });

  it("needs a majority of the pinned set, not of the signatures present", async () => {
    const keys = await pinned();
    const five = [...keys, toBase64Url(new Uint8Array(32).fill(7)), toBase64Url(new Uint8Array(32).fill(8))];
    await expect(verifyConsensus(await signedBy([0, 1]), five, NOW)).rejects.toMatchObject({ code: "bad_signature" });
    expect(await verifyConsensus(await signedBy([0, 1, 2]), five, NOW)).toEqual(document);
  });

  it("accepts a consensus up to the tolerated skew after validUntil and refuses it after", async () => {
    const keys = await pinned();
    const signed = await signedBy([0, 1]);
    await expect(verifyConsensus(signed, keys, document.validUntil + CONSENSUS_SKEW_MS)).resolves.toEqual(document);
    await expect(verifyConsensus(signed, keys, document.validUntil + CONSENSUS_SKEW_MS + 1)).rejects.toMatchObject({ code: "stale_consensus" });
  });

  it.each<[string, unknown]>([
    ["null", null],
    ["a string", "consensus"],
    ["an envelope without signatures", { document: "{}" }],
    ["the single-directory envelope", { document: "{}", signature: "A".repeat(86) }],
    ["an envelope with an extra field", { document: "{}", signatures: [], extra: true }],
    ["a signature of the wrong length", { document: "{}", signatures: [{ authority: "A".repeat(43), signature: "A".repeat(85) }] }],
    ["seventeen signatures", { document: "{}", signatures: Array.from({ length: 17 }, () => ({ authority: "A".repeat(43), signature: "A".repeat(86) })) }],
  ])("refuses %s with malformed_message", async (_, signed) => {
    await expect(verifyConsensus(signed, await pinned(), NOW)).rejects.toMatchObject({ code: "malformed_message" });
  });

  it.each<[string, string]>([
    ["text that is not JSON", "not json"],
    ["a document of the single-directory version", JSON.stringify({ ...document, version: 1 })],
    ["a document with a malformed relay", JSON.stringify({ ...document, relays: [{ ...relay(1), id: "nope" }] })],
    ["a relay without flags", JSON.stringify({ ...document, relays: [{ ...relay(1), flags: undefined }] })],
    ["a relay with an unknown flag", JSON.stringify({ ...document, relays: [{ ...relay(1), flags: ["Fast"] }] })],
    ["flags out of order", JSON.stringify({ ...document, relays: [{ ...relay(1), flags: ["Running", "Exit"] }] })],
    ["a flag twice", JSON.stringify({ ...document, relays: [{ ...relay(1), flags: ["Exit", "Exit"] }] })],
    ["a document with an unknown field", JSON.stringify({ ...document, extra: 1 })],
  ])("refuses correctly signed %s with malformed_message", async (_, text) => {
    await expect(verifyConsensus(await signedBy([0, 1, 2], text), await pinned(), NOW)).rejects.toMatchObject({ code: "malformed_message" });
  });
});

describe("serializeConsensus", () => {
  it("gives one text for one document, whatever the order of its relays, voters, members or flags", () => {
    const shuffled: ConsensusDocument = {
      relays: [relay(3), { ...relay(1), flags: ["Running", "Exit"] as RelayFlag[] }, relay(2)].map((r) => ({ flags: r.flags, published: r.published, exitPolicy: r.exitPolicy, identityKey: r.identityKey, onionKey: r.onionKey, address: r.address, id: r.id })),
      voters: ["c".repeat(43), "a".repeat(43)],
      validUntil: document.validUntil,
      published: document.published,
      version: 2,
    };
    const text = serializeConsensus(shuffled);
    expect(text).toBe(serializeConsensus({ ...document, voters: ["a".repeat(43), "c".repeat(43)] }));
    expect(Object.keys(JSON.parse(text))).toEqual(["version", "published", "validUntil", "voters", "relays"]);
    expect(Object.keys(JSON.parse(text).relays[0])).toEqual(["id", "address", "onionKey", "identityKey", "exitPolicy", "published", "flags"]);
  });
});
