import { describe, expect, it } from "vitest";
import type { Authority } from "./authorities.ts";
import { ConsensusUnavailableError, consensusFromAuthorities } from "./authority-fetch.ts";
import { fromHex, toBase64Url } from "./bytes.ts";
import { type ConsensusDocument, type SignedConsensus, serializeConsensus, signConsensusText } from "./consensus.ts";
import { importEd25519 } from "./x25519.ts";

const NOW = 1_700_000_000_000;
const keys = Promise.all(["a1", "a2", "a3"].map((seed) => importEd25519(fromHex(seed.repeat(32)))));
const authorities = async (): Promise<Authority[]> => (await keys).map((k, i) => ({ url: `https://authority-${i + 1}.test`, key: toBase64Url(k.publicKey) }));
const doc = (published: number): ConsensusDocument => ({ version: 2, published, validUntil: published + 180_000, voters: [], relays: [] });

async function signed(document: ConsensusDocument, by: number[]): Promise<SignedConsensus> {
  const all = await keys;
  const text = serializeConsensus(document);
  return { document: text, signatures: await Promise.all(by.map((i) => signConsensusText(text, toBase64Url(all[i]!.publicKey), all[i]!.privateKey))) };
}

const never = () => new Promise<never>(() => {});

describe("consensusFromAuthorities", () => {
  it("answers with the first consensus that verifies when the others never answer (an authority down or frozen)", async () => {
    const list = await authorities();
    const good = await signed(doc(NOW), [0, 2]);
    const fetched = await consensusFromAuthorities({ authorities: list, now: () => NOW, wait: async () => {}, get: async (a) => (a === list[0] ? good : never()) });
    expect(fetched.document.published).toBe(NOW);
    expect(fetched.from).toBe(list[0]);
    expect(fetched.signers.sort()).toEqual([list[0]!.key, list[2]!.key].sort());
  });

  it("prefers the newest verified document among the answers in by the settle time", async () => {
    const list = await authorities();
    const older = await signed(doc(NOW - 60_000), [0, 1, 2]);
    const newer = await signed(doc(NOW), [0, 1]);
    let release!: () => void;
    const settled = new Promise<void>((resolve) => (release = resolve));
    const fetching = consensusFromAuthorities({
      authorities: list,
      now: () => NOW,
      wait: () => settled,
      get: async (a) => (a === list[0] ? older : a === list[1] ? new Promise((resolve) => setTimeout(() => resolve(newer), 5)) : never()),
    });
    await new Promise((r) => setTimeout(r, 20));
    release();
    expect((await fetching).document.published).toBe(NOW);
  });

  it("never takes a document signed by fewer than a majority, even the only one that answers", async () => {
    const list = await authorities();
    const lonely = await signed(doc(NOW), [1]);
    await expect(consensusFromAuthorities({ authorities: list, now: () => NOW, get: async (a) => (a === list[1] ? lonely : Promise.reject(new Error("ECONNREFUSED"))) })).rejects.toMatchObject({ code: "bad_signature" });
  });

  it("reports every authority that could not be reached", async () => {
    const list = await authorities();
    const error = await consensusFromAuthorities({ authorities: list, now: () => NOW, get: async (a) => Promise.reject(new Error(`down ${a.url}`)) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConsensusUnavailableError);
    expect((error as ConsensusUnavailableError).failures).toHaveLength(3);
    expect((error as Error).message).toContain("https://authority-3.test (down https://authority-3.test)");
  });
});
