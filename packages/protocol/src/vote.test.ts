import { describe, expect, it } from "vitest";
import { fromHex, toBase64Url, toHex } from "./bytes.ts";
import { type ListedRelay, type RelayFlag, serializeConsensus } from "./consensus.ts";
import { type VoteDocument, computeConsensus, openVote, serializeVote, signVote } from "./vote.ts";
import { importEd25519 } from "./x25519.ts";

const ROUND = 1_700_000_040_000;
const RULES = { authorityCount: 3, published: ROUND, validUntil: ROUND + 180_000, maxRelaysPerHost: 2 };
const [A, B, C] = ["a", "b", "c"].map((c) => c.repeat(43)) as [string, string, string];

const relay = (n: number, host = `relay-${n}.example`, flags: RelayFlag[] = ["Exit", "Running"], published = ROUND - 1000): ListedRelay => {
  const id = toHex(new Uint8Array(32).fill(n));
  return { id, address: `https://${host}/relays/${id}`, onionKey: toBase64Url(new Uint8Array(32).fill(n + 100)), identityKey: toBase64Url(new Uint8Array(32).fill(n + 200)), exitPolicy: "public", published, flags };
};
const vote = (authority: string, relays: ListedRelay[], published = ROUND): VoteDocument => ({ version: 1, authority, published, relays });
const ids = (relays: readonly { id: string }[] | undefined) => (relays ?? []).map((r) => r.id).sort();

describe("computeConsensus with three configured authorities", () => {
  it("lists a relay voted for by 2 of 3 and never one voted for by 1 of 3", () => {
    const consensus = computeConsensus([vote(A, [relay(1), relay(2)]), vote(B, [relay(1), relay(3)]), vote(C, [relay(1), relay(2)])], RULES)!;
    expect(ids(consensus.relays)).toEqual(ids([relay(1), relay(2)]));
    expect(consensus).toMatchObject({ version: 2, published: ROUND, validUntil: ROUND + 180_000, voters: [A, B, C] });
  });

  it("needs more than half of ALL configured authorities, not of those that voted", () => {
    // Two of three voted; each relay needs both.
    const consensus = computeConsensus([vote(A, [relay(1), relay(2)]), vote(C, [relay(1)])], RULES)!;
    expect(ids(consensus.relays)).toEqual(ids([relay(1)]));
    expect(consensus.voters).toEqual([A, C]);
    // Of five configured, three votes are needed for any relay.
    const five = computeConsensus([vote(A, [relay(1)]), vote(B, [relay(1)]), vote(C, [relay(1), relay(2)])], { ...RULES, authorityCount: 5 })!;
    expect(ids(five.relays)).toEqual(ids([relay(1)]));
  });

  it("computes nothing from fewer votes than a majority: an empty list is not the network", () => {
    expect(computeConsensus([vote(A, [relay(1)])], RULES)).toBeNull();
    expect(computeConsensus([], RULES)).toBeNull();
    expect(computeConsensus([vote(A, [relay(1)]), vote(B, [relay(1)], ROUND - 60_000)], RULES)).toBeNull();
  });

  it("lets one compromised authority neither add nor drop a relay", () => {
    const honest = [relay(1), relay(2), relay(3)];
    const fake = relay(9, "sybil.example");
    const base = computeConsensus([vote(A, honest), vote(B, honest), vote(C, honest)], RULES)!;
    // C votes for a relay nobody tested, drops two honest relays, and lies about the third's key.
    const lying = [fake, { ...relay(3), onionKey: toBase64Url(new Uint8Array(32).fill(77)) }];
    const attacked = computeConsensus([vote(A, honest), vote(B, honest), vote(C, lying)], RULES)!;
    expect(ids(attacked.relays)).toEqual(ids(base.relays));
    expect(attacked.relays.find((r) => r.id === relay(3).id)?.onionKey).toBe(relay(3).onionKey);
    // With an honest authority down, the compromised one still cannot add its relay.
    const alone = computeConsensus([vote(A, honest), vote(C, [...honest, fake])], RULES)!;
    expect(ids(alone.relays)).toEqual(ids(honest));
  });

  it("lists the descriptor a majority agrees on, with the newest published time among those votes", () => {
    const moved = { ...relay(1), address: `https://elsewhere.example/relays/${relay(1).id}`, published: ROUND - 10 };
    const consensus = computeConsensus([vote(A, [relay(1, undefined, undefined, ROUND - 900)]), vote(B, [moved]), vote(C, [relay(1, undefined, undefined, ROUND - 500)])], RULES)!;
    expect(consensus.relays).toHaveLength(1);
    expect(consensus.relays[0]).toMatchObject({ address: relay(1).address, published: ROUND - 500 });
    // No variant with a majority: not listed.
    const split = computeConsensus([vote(A, [relay(1)]), vote(B, [moved])], RULES)!;
    expect(split.relays).toEqual([]);
  });

  it("sets a flag when more than half of the votes for the relay carry it", () => {
    const flags = (f: RelayFlag[]) => relay(1, undefined, f);
    const consensus = (votes: RelayFlag[][]) => computeConsensus(votes.map((f, i) => vote([A, B, C][i]!, [flags(f)])), RULES)!.relays[0]!.flags;
    expect(consensus([["Exit", "Guard", "Running", "Stable"], ["Exit", "Running", "Stable"], ["Exit", "Running"]])).toEqual(["Exit", "Running", "Stable"]);
    // A lone authority cannot set a flag...
    expect(consensus([["Running"], ["Running"], ["Exit", "Guard", "Running", "Stable"]])).toEqual(["Running"]);
    // ...and with two votes, both must agree.
    expect(consensus([["Guard", "Running", "Stable"], ["Running", "Stable"]])).toEqual(["Running", "Stable"]);
  });

  it("lists at most maxRelaysPerHost relays of one deployment host: most votes, then Guard, then Stable, then the lowest id", () => {
    const host = "busy.example";
    const r = (n: number, f: RelayFlag[]) => relay(n, host, f);
    const full = [r(1, ["Exit", "Running"]), r(2, ["Exit", "Running", "Stable"]), r(3, ["Exit", "Guard", "Running", "Stable"]), r(4, ["Exit", "Running"]), relay(5)];
    const consensus = computeConsensus([vote(A, full), vote(B, full), vote(C, [r(4, ["Exit", "Running"])])], RULES)!;
    // r4 has three votes; then r3 (Guard) — r2 and r1 are over the limit; relay 5 is another host.
    expect(ids(consensus.relays)).toEqual(ids([r(4, []), r(3, []), relay(5)]));
    expect(computeConsensus([vote(A, full), vote(B, full)], { ...RULES, maxRelaysPerHost: 1 })!.relays.filter((x) => x.address.includes(host))).toHaveLength(1);
  });

  it("is the same document whatever the order of the votes and of the relays in them", () => {
    const one = [vote(A, [relay(1), relay(2), relay(3)]), vote(B, [relay(3), relay(1)]), vote(C, [relay(2), relay(3)])];
    const other = [vote(C, [relay(3), relay(2)]), vote(A, [relay(3), relay(1), relay(2)]), vote(B, [relay(1), relay(3)])];
    expect(serializeConsensus(computeConsensus(one, RULES)!)).toBe(serializeConsensus(computeConsensus(other, RULES)!));
  });

  it("refuses two votes of one authority (the caller drops an authority that equivocates)", () => {
    expect(() => computeConsensus([vote(A, [relay(1)]), vote(A, [relay(2)]), vote(B, [relay(1)])], RULES)).toThrow();
  });
});

describe("signed votes", () => {
  it("open only with a listed authority's key, unchanged, and under the vote context", async () => {
    const [ka, kb] = await Promise.all(["a1", "a2"].map((s) => importEd25519(fromHex(s.repeat(32)))));
    const [keyA, keyB] = [toBase64Url(ka!.publicKey), toBase64Url(kb!.publicKey)];
    const document = vote(keyA, [relay(2), relay(1)]);
    const signed = await signVote(document, ka!.privateKey);
    expect(signed.document).toBe(serializeVote(document));
    expect(await openVote(signed, [keyA, keyB])).toEqual(JSON.parse(serializeVote(document)));
    expect(await openVote(JSON.parse(JSON.stringify(signed)), [keyA])).not.toBeNull();
    // Not a listed authority; signed by another key than it names; changed after signing; malformed.
    expect(await openVote(signed, [keyB])).toBeNull();
    expect(await openVote(await signVote(document, kb!.privateKey), [keyA, keyB])).toBeNull();
    expect(await openVote({ ...signed, document: signed.document.replace("relay-1", "relay-9") }, [keyA])).toBeNull();
    expect(await openVote({ document: signed.document }, [keyA])).toBeNull();
    expect(await openVote("vote", [keyA])).toBeNull();
  });
});
