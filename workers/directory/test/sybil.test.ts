// A flood of 50 self-signed descriptors with made-up addresses — half of them at a tarpit that
// accepts connections and never answers — lists none of them and does not delay honest relays.

import { describe, expect, it } from "vitest";
import { PERIOD_MS, consensusWhere, hostedRelay, listedIds, madeUpRelay, nextConsensus, relayHosts, sleep } from "./helpers.ts";

describe("a Sybil flood", () => {
  it("lists none of 50 made-up relays, and an honest relay posted after them is tested first and listed", async () => {
    const honestHost = relayHosts()[0]!;
    // Tarpits on four hosts, so that no per-host limit is what holds them back.
    const tarpitHosts = relayHosts().slice(1, 5);
    const first = await hostedRelay(honestHost);
    await first.register();
    await consensusWhere((d) => listedIds(d).includes(first.id));

    // 25 relays whose address never answers, 25 whose address names no server at all.
    const tarpits = await Promise.all(Array.from({ length: 25 }, (_, i) => hostedRelay(tarpitHosts[i % tarpitHosts.length], "silent")));
    const madeUp = await Promise.all(Array.from({ length: 25 }, (_, i) => madeUpRelay(`https://sybil-${i}.invalid`)));
    for (const relay of [...tarpits, ...madeUp]) expect((await relay.register()).status).toBe(200);
    const flood = new Set([...tarpits, ...madeUp].map((relay) => relay.id));

    const honest = await hostedRelay(honestHost);
    expect((await honest.register()).status).toBe(200);
    await consensusWhere((d) => listedIds(d).includes(honest.id));

    // Ordering, not timing: when the honest relay got its CREATE2, the tarpit had seen at most the
    // one test its lane allows at a time (and one more in the meantime) — it never waited behind the flood.
    const tested = (await honest.stats()).log.find((line) => line.endsWith(`CELL ${honest.id}`))!;
    const at = Number(tested.split(" ")[0]);
    const tarpitLog = (await Promise.all(tarpits.slice(0, tarpitHosts.length).map(async (t) => (await t.stats()).log))).flat().filter((line) => flood.has(line.split(" ")[2]!));
    expect(tarpitLog.filter((line) => Number(line.split(" ")[0]) <= at).length).toBeLessThanOrEqual(2);

    // Rounds later, nothing of the flood was ever listed, and the honest relays stayed.
    const until = Date.now() + 4 * PERIOD_MS;
    while (Date.now() < until) {
      const document = await nextConsensus();
      expect(listedIds(document).filter((id) => flood.has(id))).toEqual([]);
      expect(listedIds(document)).toEqual(expect.arrayContaining([first.id, honest.id]));
      await sleep(100);
    }
    for (const host of tarpitHosts) await fetch(`${host}/admin/release`, { method: "POST" });
  });
});
