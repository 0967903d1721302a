// Circuit reuse, as Tor reuses a circuit for a while: a circuit serves requests for `reuseMs`, then
// takes no new ones and is destroyed once its last request has finished. Under load several
// circuits serve at once (each carries at most `maxInflight` requests, well under the relays'
// replay window). "onion-new-circuit: 1" asks for a circuit of its own: the circuits in use take no
// new requests after it. Circuits may be built ahead of time, as Tor's predicted circuits are: a
// spare, never used, serves one such request at once, and another is built behind it once that
// request is over: the build and the DESTROYs of the circuits it replaced would otherwise compete
// with the request itself for the same relays (in one isolate, the same thread).
// The onion proxy (onion-proxy.ts) owns the pools; the caller supplies the build, the clock, and
// which circuits are still fit to use.

import type { Circuit } from "./client.ts";

export const CIRCUIT_REUSE_MS = 10_000;
/**
 * Requests one circuit carries at once before another circuit serves too: kept well under the
 * replay window (32), which cells reordered further than that would overflow.
 */
export const MAX_INFLIGHT = 16;
/** A spare circuit older than this is not handed out (and is destroyed): the network may have moved on. */
export const SPARE_MAX_AGE_MS = 60_000;

export interface PooledCircuit {
  circuit: Circuit;
  builtAt: number;
  /** How long the build took, for the Server-Timing header. */
  buildMs: number;
  inflight: number;
  retired: boolean;
  /** A spare serving a fresh request: the circuits it replaced, destroyed (and the spares refilled) when its request is over. */
  replaced?: PooledCircuit[];
}

export interface Lease {
  entry: PooledCircuit;
  /** False when the circuit was built for this request (or built ahead of time and first used now). */
  reused: boolean;
  /** True when it was a spare built ahead of time. */
  prebuilt?: boolean;
  /** Destruction of circuits this acquire retired, and builds it started, for the caller to wait on (or not). */
  teardown: Promise<void>[];
}

export interface CircuitPoolOptions {
  reuseMs?: number;
  clock?: () => number;
  /** Whether a circuit may still carry requests (none of its relays known to have failed). */
  usable?: (circuit: Circuit) => boolean;
  /** Uses one circuit carries at once (requests; or streams, which keep their own count of cells in flight). */
  maxInflight?: number;
  /** Circuits kept built ahead of time for "new circuit" requests. */
  spares?: number;
}

export class CircuitPool {
  /** Circuits taking new uses. */
  private live: PooledCircuit[] = [];
  private building: Promise<PooledCircuit> | null = null;
  private spares: PooledCircuit[] = [];
  private sparesBuilding: Promise<void>[] = [];

  private readonly build: () => Promise<Circuit>;
  private readonly reuseMs: number;
  private readonly clock: () => number;
  private readonly usable: (circuit: Circuit) => boolean;
  private readonly maxInflight: number;
  private readonly spareCount: number;

  constructor(build: () => Promise<Circuit>, reuseMs: number | CircuitPoolOptions = CIRCUIT_REUSE_MS, clock: () => number = Date.now, usable: (circuit: Circuit) => boolean = () => true, maxInflight: number = MAX_INFLIGHT) {
    const options: CircuitPoolOptions = typeof reuseMs === "number" ? { reuseMs, clock, usable, maxInflight } : reuseMs;
    this.build = build;
    this.reuseMs = options.reuseMs ?? CIRCUIT_REUSE_MS;
    this.clock = options.clock ?? Date.now;
    this.usable = options.usable ?? (() => true);
    this.maxInflight = options.maxInflight ?? MAX_INFLIGHT;
    this.spareCount = options.spares ?? 0;
  }

  /** A circuit for one request; call `release` when the request is done. */
  async acquire(fresh: boolean): Promise<Lease> {
    const teardown: Promise<void>[] = [];
    this.prune(teardown);
    if (fresh) {
      // The circuits in use take no new requests after this one.
      const replaced = this.live.splice(0);
      for (const entry of replaced) entry.retired = true;
      // A spare ready now serves at once; one being built was started earlier than a build of our own would be.
      for (;;) {
        const spare = this.takeSpare(teardown);
        if (spare) {
          spare.inflight++;
          spare.replaced = replaced;
          this.live.push(spare);
          return { entry: spare, reused: false, prebuilt: true, teardown };
        }
        const pending = this.sparesBuilding[0];
        if (!pending) break;
        await pending;
      }
      for (const entry of replaced) {
        const done = this.destroyIfIdle(entry);
        if (done) teardown.push(done);
      }
      const entry = await this.startBuild();
      entry.inflight++;
      this.refill(teardown);
      return { entry, reused: false, teardown };
    }
    for (;;) {
      const entry = this.leastLoaded();
      if (entry) {
        entry.inflight++;
        this.refill(teardown);
        return { entry, reused: true, teardown };
      }
      // Requests that arrive during a build share it; when it fills up, the next one builds another.
      const built = await (this.building ?? this.startBuild());
      if (built.inflight < this.maxInflight && !built.retired) {
        built.inflight++;
        this.refill(teardown);
        return { entry: built, reused: false, teardown };
      }
    }
  }

  /**
   * Ends one request's use; returns the teardown to wait for when that was the last use of a
   * retired circuit. A fresh request's own background work (the DESTROYs of the circuits it
   * replaced, the next spare's build) starts once `answered` settles, when given: started sooner,
   * it competes with the request's answer for the same thread.
   */
  release(entry: PooledCircuit, answered?: Promise<unknown>): Promise<void> | undefined {
    entry.inflight--;
    const own = entry.retired ? this.destroyIfIdle(entry) : undefined;
    const replaced = entry.replaced;
    if (!replaced) return own;
    entry.replaced = undefined;
    const start = (): Promise<void> | undefined => {
      const work: Promise<void>[] = own ? [own] : [];
      for (const old of replaced) {
        const done = this.destroyIfIdle(old);
        if (done) work.push(done);
      }
      this.refill(work);
      return work.length === 0 ? undefined : Promise.all(work).then(() => {});
    };
    if (!answered) return start();
    return answered.then(start, start);
  }

  /**
   * Retires the circuits past their window or no longer fit, as the next acquire would, and
   * returns the teardown of those now idle: for a pool that may never be asked again.
   */
  sweep(): Promise<void>[] {
    const teardown: Promise<void>[] = [];
    this.prune(teardown);
    return teardown;
  }

  /** Nothing left to hand out or being built: the pool can be dropped. */
  get idle(): boolean {
    return this.live.length === 0 && this.spares.length === 0 && this.sparesBuilding.length === 0 && this.building === null;
  }

  /** Destroys the circuits in use and the spares (when the caller shuts down). */
  async close(): Promise<void> {
    const all = [...this.live.flatMap((entry) => [entry, ...(entry.replaced ?? [])]), ...this.spares.splice(0)];
    this.live = [];
    await Promise.all(all.map((entry) => (entry.circuit.isDestroyed ? undefined : entry.circuit.destroy().catch(() => {}))));
  }

  /** Drops a circuit that failed; it is not handed out again. */
  discard(entry: PooledCircuit): void {
    this.live = this.live.filter((live) => live !== entry);
    entry.retired = true;
  }

  private leastLoaded(): PooledCircuit | undefined {
    let best: PooledCircuit | undefined;
    for (const entry of this.live) if (entry.inflight < this.maxInflight && (!best || entry.inflight < best.inflight)) best = entry;
    return best;
  }

  /** Circuits past their window, destroyed or no longer fit take no new uses. */
  private prune(teardown: Promise<void>[]): void {
    const now = this.clock();
    this.live = this.live.filter((entry) => {
      if (!entry.retired && !entry.circuit.isDestroyed && now - entry.builtAt < this.reuseMs && this.usable(entry.circuit)) return true;
      const done = this.retire(entry);
      if (done) teardown.push(done);
      return false;
    });
  }

  private takeSpare(teardown: Promise<void>[]): PooledCircuit | undefined {
    const now = this.clock();
    while (this.spares.length > 0) {
      const spare = this.spares.shift()!;
      if (!spare.circuit.isDestroyed && now - spare.builtAt < SPARE_MAX_AGE_MS && this.usable(spare.circuit)) {
        // Its window starts now, when it is first used.
        spare.builtAt = now;
        return spare;
      }
      const done = this.retire(spare);
      if (done) teardown.push(done);
    }
    return undefined;
  }

  /** Builds spares in the background until there are `spares` of them. */
  private refill(teardown: Promise<void>[]): void {
    while (this.spares.length + this.sparesBuilding.length < this.spareCount) {
      const started = this.clock();
      const building: Promise<void> = this.build()
        .then((circuit) => {
          const builtAt = this.clock();
          this.spares.push({ circuit, builtAt, buildMs: builtAt - started, inflight: 0, retired: false });
        })
        .catch(() => {
          // A failed spare is not kept; the next request builds as it would without one.
        })
        .finally(() => {
          this.sparesBuilding = this.sparesBuilding.filter((pending) => pending !== building);
        });
      this.sparesBuilding.push(building);
      teardown.push(building);
    }
  }

  private startBuild(): Promise<PooledCircuit> {
    const started = this.clock();
    const building = this.build().then((circuit) => {
      const builtAt = this.clock();
      const entry: PooledCircuit = { circuit, builtAt, buildMs: builtAt - started, inflight: 0, retired: false };
      this.live.push(entry);
      return entry;
    });
    this.building = building;
    void building
      .finally(() => {
        if (this.building === building) this.building = null;
      })
      .catch(() => {});
    return building;
  }

  private retire(entry: PooledCircuit): Promise<void> | undefined {
    entry.retired = true;
    return this.destroyIfIdle(entry);
  }

  private destroyIfIdle(entry: PooledCircuit): Promise<void> | undefined {
    if (entry.inflight > 0 || entry.circuit.isDestroyed) return undefined;
    return entry.circuit.destroy().catch(() => {
      // Unreachable entry: the relays' idle expiry erases the circuit.
    });
  }
}
