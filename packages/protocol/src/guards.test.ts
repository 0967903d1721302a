import { describe, expect, it } from "vitest";
import { toBase64Url, toHex } from "./bytes.ts";
import type { ListedRelay, RelayFlag } from "./consensus.ts";
import { GUARD_COUNT, GuardSet, parseGuardState } from "./guards.ts";

const HOUR = 3_600_000;
const REPLACE = 24 * HOUR;

const relay = (n: number, flags: RelayFlag[] = ["Exit", "Guard", "Running", "Stable"]): ListedRelay => ({
  id: toHex(new Uint8Array(32).fill(n)),
  address: `https://relay-${n}.example/relays/${toHex(new Uint8Array(32).fill(n))}`,
  onionKey: toBase64Url(new Uint8Array(32).fill(n)),
  identityKey: toBase64Url(new Uint8Array(32).fill(n)),
  exitPolicy: "public",
  published: 0,
  flags,
});
const consensus = (...ns: number[]) => ns.map((n) => relay(n));

describe("GuardSet", () => {
  it("enters every circuit through one guard drawn among the Guard-flagged relays, and keeps it", () => {
    const relays = [...consensus(1, 2, 3), relay(4, ["Exit", "Running"]), relay(5, ["Exit", "Running", "Stable"])];
    const guards = new GuardSet(null, { replaceAfterMs: REPLACE });
    const first = guards.entry(relays, 0);
    expect(first.flags).toContain("Guard");
    expect([1, 2, 3].map((n) => relay(n).id)).toContain(first.id);
    expect(guards.takeChanged()).toBe(true);
    for (let t = 1; t < 100; t++) expect(guards.entry(relays, t * 1000).id).toBe(first.id);
    expect(guards.takeChanged()).toBe(false);
    expect(guards.state.guards).toEqual([{ id: first.id, addedAt: 0, downSince: null }]);
  });

  it("is kept across runs: a new set from the saved state enters through the same guard", () => {
    const relays = consensus(1, 2, 3, 4, 5, 6);
    const before = new GuardSet(null);
    const entry = before.entry(relays, 0).id;
    const saved = JSON.parse(JSON.stringify(before.state));
    for (let i = 0; i < 20; i++) expect(new GuardSet(parseGuardState(saved)).entry(relays, 1000).id).toBe(entry);
  });

  it("uses the next guard while the first is down, and goes back to it once it is up again", () => {
    const relays = consensus(1, 2, 3, 4, 5, 6);
    const guards = new GuardSet(null, { replaceAfterMs: REPLACE });
    const g1 = guards.entry(relays, 0).id;
    guards.markDown(g1, 1000);
    const g2 = guards.entry(relays, 2000, new Set([g1])).id;
    expect(g2).not.toBe(g1);
    expect(guards.state.guards.map((g) => g.id)).toEqual([g1, g2]);
    // The client's own mark expired, the relay is listed: try the first guard again; it works.
    expect(guards.entry(relays, HOUR).id).toBe(g1);
    guards.markUp(g1);
    expect(guards.state.guards.find((g) => g.id === g1)?.downSince).toBeNull();
  });

  it("replaces a guard only once it has been unusable for replaceAfterMs", () => {
    const relays = consensus(1, 2, 3, 4, 5, 6);
    const guards = new GuardSet(null, { replaceAfterMs: REPLACE });
    const g1 = guards.entry(relays, 0).id;
    const without = relays.filter((r) => r.id !== g1);
    const g2 = guards.entry(without, 1000).id;
    // Unlisted for less than a day: kept (and tried first again once listed).
    expect(guards.entry(without, REPLACE).id).toBe(g2);
    expect(guards.state.guards.map((g) => g.id)).toContain(g1);
    expect(guards.entry(relays, REPLACE).id).toBe(g1);
    // Unlisted for a whole day: dropped.
    expect(guards.entry(without, 1000 + REPLACE).id).toBe(g2);
    expect(guards.state.guards.map((g) => g.id)).not.toContain(g1);
  });

  it("counts losing the Guard flag as unusable", () => {
    const guards = new GuardSet(null, { replaceAfterMs: REPLACE });
    const g1 = guards.entry(consensus(1, 2), 0);
    const demoted = consensus(1, 2).map((r): ListedRelay => (r.id === g1.id ? { ...r, flags: ["Exit", "Running", "Stable"] } : r));
    expect(guards.entry(demoted, 1000).id).not.toBe(g1.id);
    expect(guards.state.guards.find((g) => g.id === g1.id)?.downSince).toBe(1000);
  });

  it("keeps at most three guards; when all are down, the one down the longest makes room", () => {
    const relays = consensus(1, 2, 3, 4, 5, 6, 7, 8);
    const guards = new GuardSet(null, { replaceAfterMs: REPLACE });
    const down = new Set<string>();
    const seen: string[] = [];
    for (let t = 0; t < 3; t++) {
      const g = guards.entry(relays, t, down).id;
      seen.push(g);
      down.add(g);
    }
    expect(guards.state.guards).toHaveLength(GUARD_COUNT);
    const fourth = guards.entry(relays, 10, down).id;
    expect(seen).not.toContain(fourth);
    expect(guards.state.guards.map((g) => g.id)).toEqual([seen[1], seen[2], fourth]);
  });

  it("in a network without Guard flags yet, any running relay may be a guard", () => {
    const young = [1, 2, 3].map((n) => relay(n, ["Exit", "Running"]));
    const guards = new GuardSet(null);
    expect(young.map((r) => r.id)).toContain(guards.entry(young, 0).id);
    expect(() => guards.entry([relay(9, ["Exit"])], 0)).toThrow(expect.objectContaining({ code: "not_enough_relays" }));
  });

  it("keeps 1 guard when told to", () => {
    const guards = new GuardSet(null, { size: 1 });
    const g1 = guards.entry(consensus(1, 2, 3), 0).id;
    const g2 = guards.entry(consensus(1, 2, 3), 1, new Set([g1])).id;
    expect(guards.state.guards.map((g) => g.id)).toEqual([g2]);
  });

  it("reads back only a valid state", () => {
    expect(parseGuardState({ version: 1, guards: [{ id: relay(1).id, addedAt: 5, downSince: null }] })).not.toBeNull();
    for (const bad of [null, "x", { version: 2, guards: [] }, { version: 1, guards: [{ id: "nope", addedAt: 0, downSince: null }] }, { version: 1, guards: consensus(1, 2, 3, 4).map((r) => ({ id: r.id, addedAt: 0, downSince: null })) }]) {
      expect(parseGuardState(bad)).toBeNull();
    }
  });
});
