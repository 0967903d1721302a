import { describe, expect, it } from "vitest";
import type { Circuit } from "./client.ts";
import { CircuitPool, MAX_INFLIGHT, SPARE_MAX_AGE_MS } from "./circuit-pool.ts";

/** Just enough of a Circuit for the pool: it is destroyed or not. */
function fakeCircuit(name: string) {
  const circuit = { name, destroyed: 0, get isDestroyed() { return this.destroyed > 0; }, async destroy() { this.destroyed++; } };
  return circuit;
}

function setup(spares = 0) {
  let now = 0;
  const built: ReturnType<typeof fakeCircuit>[] = [];
  const pool = new CircuitPool(
    async () => {
      const circuit = fakeCircuit(`c${built.length}`);
      built.push(circuit);
      return circuit as unknown as Circuit;
    },
    { reuseMs: 10_000, clock: () => now, spares },
  );
  return { pool, built, advance: (ms: number) => (now += ms) };
}

describe("CircuitPool", () => {
  it("reuses one circuit for 10 s, then builds a new one and destroys the old one when idle", async () => {
    const { pool, built, advance } = setup();
    const first = await pool.acquire(false);
    expect(first.reused).toBe(false);
    pool.release(first.entry);
    advance(9_999);
    const second = await pool.acquire(false);
    expect(second).toMatchObject({ reused: true, entry: first.entry });
    pool.release(second.entry);
    advance(1);
    const third = await pool.acquire(false);
    expect(third.reused).toBe(false);
    expect(built).toHaveLength(2);
    expect(built[0]!.destroyed).toBe(1);
    pool.release(third.entry);
  });

  it("builds a fresh circuit on request, and waits for in-flight requests before destroying the old one", async () => {
    const { pool, built } = setup();
    const busy = await pool.acquire(false);
    const fresh = await pool.acquire(true);
    expect(fresh.entry).not.toBe(busy.entry);
    expect(built[0]!.destroyed).toBe(0);
    pool.release(busy.entry);
    expect(built[0]!.destroyed).toBe(1);
    pool.release(fresh.entry);
    expect(built[1]!.destroyed).toBe(0);
  });

  it("never hands out a discarded circuit again", async () => {
    const { pool, built } = setup();
    const lease = await pool.acquire(false);
    pool.discard(lease.entry);
    pool.release(lease.entry);
    expect(built[0]!.destroyed).toBe(1);
    expect((await pool.acquire(false)).entry.circuit).toBe(built[1]);
  });

  it("shares one build between requests that arrive during it, and a failed build is not kept", async () => {
    let fail = true;
    let builds = 0;
    const pool = new CircuitPool(async () => {
      builds++;
      await new Promise((r) => setTimeout(r, 5));
      if (fail) throw new Error("no relays");
      return fakeCircuit("ok") as unknown as Circuit;
    });
    await expect(Promise.all([pool.acquire(false), pool.acquire(false)])).rejects.toThrow("no relays");
    expect(builds).toBe(1);
    fail = false;
    const [a, b] = await Promise.all([pool.acquire(false), pool.acquire(false)]);
    expect(a.entry).toBe(b.entry);
    expect(builds).toBe(2);
    await pool.close();
    expect(a.entry.circuit.isDestroyed).toBe(true);
  });

  it("gives a request its own circuit once the current one carries MAX_INFLIGHT requests", async () => {
    const { pool, built } = setup();
    const leases = [];
    for (let i = 0; i < MAX_INFLIGHT; i++) leases.push(await pool.acquire(false));
    expect(new Set(leases.map((l) => l.entry)).size).toBe(1);
    const next = await pool.acquire(false);
    expect(next.reused).toBe(false);
    expect(built).toHaveLength(2);
  });

  it("replaces the current circuit as soon as it is no longer fit, before its window ends", async () => {
    let fit = true;
    const built: ReturnType<typeof fakeCircuit>[] = [];
    const pool = new CircuitPool(async () => {
      built.push(fakeCircuit(`c${built.length}`));
      return built.at(-1) as unknown as Circuit;
    }, 10_000, () => 0, () => fit);
    const first = await pool.acquire(false);
    pool.release(first.entry);
    expect((await pool.acquire(false)).reused).toBe(true);
    fit = false;
    const next = await pool.acquire(false);
    expect(next.reused).toBe(false);
    expect(next.entry.circuit).toBe(built[1]);
  });

  it("spreads requests over the live circuits, the least loaded first", async () => {
    const { pool, built } = setup();
    const first = [];
    for (let i = 0; i < MAX_INFLIGHT; i++) first.push(await pool.acquire(false));
    const second = await pool.acquire(false);
    expect(second.entry).not.toBe(first[0]!.entry);
    // The first circuit's requests finish: it is now the less loaded one.
    for (const lease of first) pool.release(lease.entry);
    const third = await pool.acquire(false);
    expect(third.entry).toBe(first[0]!.entry);
    // From then on the two share the load.
    for (let i = 0; i < 6; i++) await pool.acquire(false);
    expect([first[0]!.entry.inflight, second.entry.inflight]).toEqual([4, 4]);
    expect(built).toHaveLength(2);
  });

  it("serves a fresh request from a spare built ahead of time, and builds the next spare behind it", async () => {
    const { pool, built } = setup(1);
    const first = await pool.acquire(false);
    await Promise.all(first.teardown);
    // The current circuit and one spare.
    expect(built).toHaveLength(2);
    pool.release(first.entry);
    const fresh = await pool.acquire(true);
    expect(fresh).toMatchObject({ reused: false, prebuilt: true });
    expect(fresh.entry.circuit).toBe(built[1]);
    // While its request runs, nothing competes with it: the circuit it replaced takes no new
    // request but is not destroyed yet, and no spare is being built.
    await Promise.all(fresh.teardown);
    expect(built[0]!.destroyed).toBe(0);
    expect(built).toHaveLength(2);
    // A request that does not ask for a fresh circuit uses the one the fresh request took, not the old one.
    const next = await pool.acquire(false);
    expect(next.entry).toBe(fresh.entry);
    pool.release(next.entry);
    // Once it is over, the replaced circuit is destroyed and another spare is built.
    await pool.release(fresh.entry);
    expect(built[0]!.destroyed).toBe(1);
    expect(built).toHaveLength(3);
    expect(built[2]!.destroyed).toBe(0);
    expect((await pool.acquire(true)).entry.circuit).toBe(built[2]);
  });

  it("starts a fresh request's background work only once its answer has gone out, when told when that is", async () => {
    const { pool, built } = setup(1);
    const first = await pool.acquire(false);
    await Promise.all(first.teardown);
    pool.release(first.entry);
    const fresh = await pool.acquire(true);
    let answered!: () => void;
    const done = pool.release(fresh.entry, new Promise<void>((resolve) => (answered = resolve)));
    expect(done).toBeDefined();
    // The request is over, its answer not yet out: nothing destroyed, no spare being built.
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(built[0]!.destroyed).toBe(0);
    expect(built).toHaveLength(2);
    // The request no longer counts against its circuit meanwhile.
    expect(fresh.entry.inflight).toBe(0);
    answered();
    await done;
    expect(built[0]!.destroyed).toBe(1);
    expect(built).toHaveLength(3);
  });

  it("destroys a circuit a fresh request replaced only after that circuit's own requests are over", async () => {
    const { pool, built } = setup(1);
    const busy = await pool.acquire(false);
    await Promise.all(busy.teardown);
    const fresh = await pool.acquire(true);
    await pool.release(fresh.entry);
    expect(built[0]!.destroyed).toBe(0);
    await pool.release(busy.entry);
    expect(built[0]!.destroyed).toBe(1);
  });

  it("a fresh request waits for the spare being built rather than building another", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let builds = 0;
    const pool = new CircuitPool(
      async () => {
        builds++;
        if (builds === 2) await gate;
        return fakeCircuit(`c${builds}`) as unknown as Circuit;
      },
      { spares: 1 },
    );
    const first = await pool.acquire(false);
    pool.release(first.entry);
    const fresh = pool.acquire(true);
    release();
    const lease = await fresh;
    expect(lease).toMatchObject({ prebuilt: true });
    expect(builds).toBe(2);
    await pool.release(lease.entry);
    expect(builds).toBe(3);
  });

  it("destroys a spare that waited longer than SPARE_MAX_AGE_MS instead of handing it out", async () => {
    const { pool, built, advance } = setup(1);
    const first = await pool.acquire(false);
    await Promise.all(first.teardown);
    pool.release(first.entry);
    advance(SPARE_MAX_AGE_MS);
    const fresh = await pool.acquire(true);
    expect(fresh.prebuilt).toBeUndefined();
    expect(built[1]!.destroyed).toBe(1);
    expect(fresh.entry.circuit).toBe(built[2]);
  });

  it("destroys the spares on close", async () => {
    const { pool, built } = setup(2);
    const first = await pool.acquire(false);
    await Promise.all(first.teardown);
    pool.release(first.entry);
    await pool.close();
    expect(built.map((circuit) => circuit.destroyed)).toEqual([1, 1, 1]);
  });
});
