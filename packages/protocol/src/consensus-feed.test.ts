import { describe, expect, it } from "vitest";
import type { ConsensusDocument } from "./consensus.ts";
import { ConsensusFeed } from "./consensus-feed.ts";

const doc = (published: number, validUntil = published + 30_000): ConsensusDocument => ({ version: 2, published, validUntil, voters: [], relays: [] });

function setup(maxAgeMs = 5_000) {
  let now = 100_000;
  const served: (ConsensusDocument | Error)[] = [];
  let fetches = 0;
  const feed = new ConsensusFeed({
    clock: () => now,
    maxAgeMs,
    fetch: async () => {
      fetches++;
      const next = served.shift();
      if (!next) throw new Error("nothing to serve");
      if (next instanceof Error) throw next;
      return next;
    },
  });
  return { feed, serve: (...items: (ConsensusDocument | Error)[]) => served.push(...items), advance: (ms: number) => void (now += ms), fetches: () => fetches, now: () => now };
}

describe("ConsensusFeed", () => {
  it("fetches once for every caller while a fetch is under way, and keeps the document for maxAgeMs", async () => {
    const { feed, serve, advance, fetches } = setup();
    serve(doc(1), doc(2));
    const [a, b] = await Promise.all([feed.get(), feed.get()]);
    expect(a).toBe(b);
    expect(fetches()).toBe(1);
    advance(4_999);
    expect((await feed.get()).published).toBe(1);
    advance(1);
    expect((await feed.get()).published).toBe(2);
    expect(fetches()).toBe(2);
  });

  it("fetches again after refresh(), even when a fetch started before it is still under way", async () => {
    const { feed, serve, fetches } = setup();
    serve(doc(1), doc(2), doc(3));
    await feed.get();
    feed.refresh();
    const during = feed.get();
    feed.refresh();
    expect((await feed.get()).published).toBe(3);
    expect((await during).published).toBe(2);
    expect(fetches()).toBe(3);
  });

  it("never steps back to an older document than one it has verified", async () => {
    const { feed, serve } = setup(0);
    serve(doc(100_050), doc(100_040), doc(100_060));
    expect((await feed.get()).published).toBe(100_050);
    expect((await feed.get()).published).toBe(100_050);
    expect(feed.current?.published).toBe(100_050);
    expect((await feed.get()).published).toBe(100_060);
  });

  it("refuses to go on with an expired document when the directory only serves older ones", async () => {
    const { feed, serve, advance, now } = setup(0);
    serve(doc(now(), now() + 1_000));
    await feed.get();
    advance(70_000);
    serve(doc(now() - 200_000));
    await expect(feed.get()).rejects.toMatchObject({ code: "stale_consensus" });
  });

  it("keeps serving a valid document when the directory cannot be reached, and fails without one", async () => {
    const { feed, serve, now, advance } = setup(0);
    serve(new Error("unreachable"));
    await expect(feed.get()).rejects.toThrow("unreachable");
    serve(doc(now()), new Error("unreachable again"));
    await feed.get();
    expect((await feed.get()).published).toBe(now());
    advance(100_000);
    serve(new Error("still down"));
    await expect(feed.get()).rejects.toThrow("still down");
  });
});
