import { describe, expect, it } from "vitest";
import { toBase64Url, toHex } from "./bytes.ts";
import type { ListedRelay, RelayFlag } from "./consensus.ts";
import { deploymentHost } from "./descriptor.ts";
import { ProtocolError } from "./errors.ts";
import { CIRCUIT_LENGTH, randomIndex, selectPath } from "./path.ts";

/** Relay `n`, in a deployment of its own unless `host` names one. */
const relay = (n: number, host = `relay-${n}.example`, flags: RelayFlag[] = ["Exit", "Running"]): ListedRelay => ({
  id: toHex(new Uint8Array(32).fill(n)),
  address: `https://${host}/relays/${toHex(new Uint8Array(32).fill(n))}`,
  onionKey: toBase64Url(new Uint8Array(32).fill(n)),
  identityKey: toBase64Url(new Uint8Array(32).fill(n)),
  exitPolicy: flags.includes("Exit") ? "public" : "none",
  published: 0,
  flags,
});
const relays = (count: number) => Array.from({ length: count }, (_, i) => relay(i + 1));

/** xorshift32: a deterministic source of u32s for reproducible draws. */
function seeded(seed: number) {
  let state = seed >>> 0 || 1;
  return (into: Uint32Array) => {
    for (let i = 0; i < into.length; i++) {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      into[i] = state;
    }
    return into;
  };
}

/** A source that yields the given u32s in turn. */
const scripted = (values: number[]) => (into: Uint32Array) => {
  into[0] = values.shift()!;
  return into;
};

describe("selectPath", () => {
  it("picks three distinct relays by default", () => {
    expect(CIRCUIT_LENGTH).toBe(3);
    for (let i = 0; i < 200; i++) {
      const path = selectPath(relays(4));
      expect(path).toHaveLength(3);
      expect(new Set(path.map((r) => r.id)).size).toBe(3);
    }
  });

  it("never picks an excluded relay", () => {
    const all = relays(5);
    const exclude = [all[0]!.id, all[3]!.id];
    for (let i = 0; i < 200; i++) {
      const ids = selectPath(all, { exclude }).map((r) => r.id);
      expect(ids.filter((id) => exclude.includes(id))).toEqual([]);
    }
  });

  it("counts a relay listed twice once, so it never appears twice in a path", () => {
    const all = [relay(1), relay(1), relay(2), relay(2), relay(3)];
    for (let i = 0; i < 200; i++) expect(new Set(selectPath(all).map((r) => r.id)).size).toBe(3);
    expect(() => selectPath([relay(1), relay(1), relay(2), relay(2)])).toThrow(expect.objectContaining({ code: "not_enough_relays" }));
  });

  it.each([0, 1, 2])("refuses with not_enough_relays when only %d usable relays remain", (count) => {
    const error = (() => {
      try {
        selectPath([...relays(count), relay(50)], { exclude: [relay(50).id] });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code: "not_enough_relays" });
  });

  it("honours another circuit length", () => {
    expect(selectPath(relays(5), { length: 5 })).toHaveLength(5);
    expect(() => selectPath(relays(5), { length: 6 })).toThrow(expect.objectContaining({ code: "not_enough_relays" }));
    expect(() => selectPath(relays(5), { length: 1 })).toThrow(RangeError);
  });

  it("does not modify the relay list it is given", () => {
    const all = relays(6);
    const copy = [...all];
    selectPath(all, { random: seeded(7) });
    expect(all).toEqual(copy);
  });

  it("is reproducible with an injected random source", () => {
    const ids = (seed: number) => selectPath(relays(10), { random: seeded(seed) }).map((r) => r.id);
    expect(ids(42)).toEqual(ids(42));
  });

  it("gives every relay the same chance at every position when all are exits (deterministic draws)", () => {
    const n = 8;
    const draws = 24_000;
    const random = seeded(0x5eed);
    const all = relays(n);
    const counts = Array.from({ length: CIRCUIT_LENGTH }, () => new Array<number>(n).fill(0));
    for (let i = 0; i < draws; i++) {
      selectPath(all, { random }).forEach((r, position) => counts[position]![all.indexOf(r)]!++);
    }
    // Expected 3000 per cell, standard deviation about 51; 10% is about 6 deviations.
    for (const row of counts) for (const count of row) expect(Math.abs(count - draws / n)).toBeLessThan(draws / n / 10);
  });

  it("gives every relay the same chance with the real random source", () => {
    const n = 10;
    const draws = 30_000;
    const all = relays(n);
    const seen = new Array<number>(n).fill(0);
    for (let i = 0; i < draws; i++) for (const r of selectPath(all)) seen[all.indexOf(r)]!++;
    // Each relay is in a path with probability 3/10: expected 9000, standard deviation about 79.
    // A tolerance of 800 is over 10 deviations, so a false failure is practically impossible.
    for (const count of seen) expect(Math.abs(count - (draws * CIRCUIT_LENGTH) / n)).toBeLessThan(800);
  });
});

describe("selectPath: flags, guards and families", () => {
  it("takes the exit among the relays with the Exit flag, and never a relay without Running", () => {
    const exits = [relay(1), relay(2)];
    const middles = [3, 4, 5, 6].map((n) => relay(n, undefined, ["Guard", "Running", "Stable"]));
    const down = [7, 8].map((n) => relay(n, undefined, ["Exit", "Guard", "Stable"]));
    for (let i = 0; i < 300; i++) {
      const path = selectPath([...exits, ...middles, ...down]);
      expect(exits.map((r) => r.id)).toContain(path[2]!.id);
      expect(path.every((r) => r.flags.includes("Running"))).toBe(true);
    }
    expect(() => selectPath(middles)).toThrow(expect.objectContaining({ code: "not_enough_relays", message: expect.stringMatching(/Exit flag/) }));
  });

  it("enters through the entry it is given", () => {
    const all = [1, 2, 3, 4, 5].map((n) => relay(n));
    for (let i = 0; i < 100; i++) {
      const path = selectPath(all, { entry: all[3] });
      expect(path[0]!.id).toBe(all[3]!.id);
      expect(new Set(path.map((r) => r.id)).size).toBe(3);
    }
  });

  it("never puts two relays of one deployment host on a circuit (the family rule)", () => {
    // Three deployments, one of five relays: every path has one relay of each.
    const all = [...[1, 2, 3, 4, 5].map((n) => relay(n, "big.example")), relay(6, "b.example"), relay(7, "c.example"), relay(8, "c.example")];
    for (let i = 0; i < 500; i++) {
      const path = selectPath(all, { entry: i % 2 ? all[0] : undefined });
      expect(new Set(path.map((r) => deploymentHost(r.address))).size).toBe(3);
    }
    // Without it (the dev mesh's one deployment), relays of one host share circuits.
    const one = [1, 2, 3, 4].map((n) => relay(n, "one.example"));
    expect(() => selectPath(one)).toThrow(expect.objectContaining({ code: "not_enough_relays", message: expect.stringMatching(/family rule/) }));
    expect(new Set(selectPath(one, { familyRule: false }).map((r) => r.id)).size).toBe(3);
  });

  it("keeps the exit out of the guard's deployment", () => {
    const guard = relay(1, "a.example", ["Guard", "Running", "Stable"]);
    const sameHostExit = relay(2, "a.example");
    const all = [guard, sameHostExit, relay(3, "b.example", ["Running"]), relay(4, "c.example")];
    for (let i = 0; i < 100; i++) expect(selectPath(all, { entry: guard }).map((r) => r.id)).toEqual([guard.id, relay(3).id, relay(4).id]);
    expect(() => selectPath([guard, sameHostExit, relay(3, "b.example", ["Running"])], { entry: guard })).toThrow(expect.objectContaining({ code: "not_enough_relays" }));
  });
});

describe("randomIndex", () => {
  it("redraws samples in the biased tail instead of folding them with modulo", () => {
    // bound 3: limit = 4294967295 - (2^32 mod 3) = 4294967295, so 4294967295 is redrawn.
    expect(randomIndex(3, scripted([0xffffffff, 5]))).toBe(2);
    expect(randomIndex(3, scripted([0xfffffffe]))).toBe(0xfffffffe % 3);
    // bound 10: 2^32 mod 10 = 6, so the last six values are redrawn.
    expect(randomIndex(10, scripted([0xffffffff, 0xfffffffa, 0xfffffff9]))).toBe(0xfffffff9 % 10);
  });

  it("returns 0 for a bound of 1 and stays within [0, bound)", () => {
    expect(randomIndex(1)).toBe(0);
    for (let i = 0; i < 1000; i++) {
      const index = randomIndex(7);
      expect(index).toBeGreaterThanOrEqual(0);
      expect(index).toBeLessThan(7);
    }
  });
});
