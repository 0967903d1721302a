// Circuit reuse, as Tor reuses a circuit for a while: one current circuit serves requests for
// `reuseMs`; then (or on request, "onion-new-circuit: 1") a fresh one takes over and the old one is
// destroyed once its last request has finished. The onion proxy (onion-proxy.ts) owns one; the
// caller supplies the build, the clock, and which circuits are still fit to use.

import type { Circuit } from "./client.ts";

export const CIRCUIT_REUSE_MS = 10_000;
/**
 * Requests one circuit carries at once before the next gets a circuit of its own: kept well under
 * the replay window (32), which cells reordered further than that would overflow.
 */
export const MAX_INFLIGHT = 16;

export interface PooledCircuit {
  circuit: Circuit;
  builtAt: number;
  /** How long the build took, for the Server-Timing header. */
  buildMs: number;
  inflight: number;
  retired: boolean;
}

export interface Lease {
  entry: PooledCircuit;
  /** False when the circuit was built for this request. */
  reused: boolean;
  /** Destruction of circuits this acquire retired, for the caller to wait on (or not). */
  teardown: Promise<void>[];
}

export class CircuitPool {
  private current: PooledCircuit | null = null;
  private building: Promise<PooledCircuit> | null = null;

  private readonly build: () => Promise<Circuit>;
  private readonly reuseMs: number;
  private readonly clock: () => number;
  private readonly usable: (circuit: Circuit) => boolean;

  /** `usable` says whether a circuit may still carry requests (none of its relays known to have failed). */
  /** Uses one circuit carries at once (requests; or streams, which keep their own count of cells in flight). */
  private readonly maxInflight: number;

  constructor(build: () => Promise<Circuit>, reuseMs: number = CIRCUIT_REUSE_MS, clock: () => number = Date.now, usable: (circuit: Circuit) => boolean = () => true, maxInflight: number = MAX_INFLIGHT) {
    this.maxInflight = maxInflight;
    this.build = build;
    this.reuseMs = reuseMs;
    this.clock = clock;
    this.usable = usable;
  }

  /** A circuit for one request; call `release` when the request is done. */
  async acquire(fresh: boolean): Promise<Lease> {
    const teardown: Promise<void>[] = [];
    const current = this.current;
    if (current && !fresh && !current.retired && !current.circuit.isDestroyed && current.inflight < this.maxInflight && this.clock() - current.builtAt < this.reuseMs && this.usable(current.circuit)) {
      current.inflight++;
      return { entry: current, reused: true, teardown };
    }
    if (current) {
      this.current = null;
      const done = this.retire(current);
      if (done) teardown.push(done);
    }
    // Requests that arrive during a build share it, unless they asked for their own circuit.
    const building = fresh || !this.building ? this.startBuild() : this.building;
    const entry = await building;
    entry.inflight++;
    return { entry, reused: false, teardown };
  }

  private startBuild(): Promise<PooledCircuit> {
    const started = this.clock();
    const building = this.build().then((circuit) => {
      const builtAt = this.clock();
      const entry: PooledCircuit = { circuit, builtAt, buildMs: builtAt - started, inflight: 0, retired: false };
      const previous = this.current;
      this.current = entry;
      if (previous && previous !== entry) void this.retire(previous);
      return entry;
    });
    this.building = building;
    void building.finally(() => {
      if (this.building === building) this.building = null;
    }).catch(() => {});
    return building;
  }

  /** Ends one request's use; returns the teardown to wait for when that was the last use of a retired circuit. */
  release(entry: PooledCircuit): Promise<void> | undefined {
    entry.inflight--;
    return entry.retired ? this.destroyIfIdle(entry) : undefined;
  }

  /** Destroys the current circuit (when the caller shuts down). */
  async close(): Promise<void> {
    const current = this.current;
    this.current = null;
    if (current && !current.circuit.isDestroyed) await current.circuit.destroy().catch(() => {});
  }

  /** Drops a circuit that failed; it is not handed out again. */
  discard(entry: PooledCircuit): void {
    if (this.current === entry) this.current = null;
    entry.retired = true;
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
