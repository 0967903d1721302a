// The onion proxy (tor-spec's OP): what every Shallot client runs to carry HTTP requests through
// circuits — the gateway for its users, the `onion` CLI and its proxy, the browser page. It owns the
// consensus feed, the relays that failed recently (path selection builds around them), the circuit
// pool and the retry rule (docs/protocol.md section 17). No I/O of its own: the transport, the
// consensus source, the clock and randomness are passed in.

import type { CellCrypto } from "./circuit-keys.ts";
import { CIRCUIT_REUSE_MS, CircuitPool, type PooledCircuit } from "./circuit-pool.ts";
import { type CellTransport, Circuit, type CircuitHop, type ExitResult } from "./client.ts";
import type { ConsensusDocument, Descriptor, ListedRelay } from "./consensus.ts";
import { ConsensusFeed } from "./consensus-feed.ts";
import { isProtocolError } from "./errors.ts";
import { GuardSet, type GuardState, type GuardStore, memoryGuardStore } from "./guards.ts";
import type { HttpRequestMessage } from "./http-message.ts";
import { LinkError } from "./link.ts";
import { EndReason } from "./stream-cell.ts";
import { type ClientStream, StreamError, StreamMux } from "./stream-mux.ts";

/** Streams one circuit carries at once (the exit allows 64 by default). */
export const MAX_STREAMS_PER_CIRCUIT = 48;
import { selectPath } from "./path.ts";

/** A relay that certainly failed (unreachable, gone, refused a handshake) is left out of paths this long. */
export const RELAY_DOWN_MS = 60_000;
/** The relays of a circuit that failed without saying which hop did are left out this long. */
export const RELAY_SUSPECT_MS = 15_000;
/** Attempts per request, each on a fresh circuit after the first: enough to meet a dead relay or two first. */
export const MAX_ATTEMPTS = 5;
/** No new attempt starts this long after the request began. */
export const RETRY_WINDOW_MS = 20_000;

/** Methods whose repetition has the effect of one request (RFC 9110 9.2.2). */
const IDEMPOTENT: ReadonlySet<string> = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);

/**
 * What a failed attempt tells: whether the request may have reached the exit, and which relays to
 * leave out of paths for a while — `down` when a relay is known to have failed, `suspect` when the
 * failure is somewhere on the circuit and its answer does not say where.
 */
export interface AttemptFailure {
  reachedExit: "no" | "maybe";
  down: string[];
  suspect: string[];
}

/** A circuit build that failed after `built` hops of `path` had joined. */
export class CircuitBuildError extends Error {
  override readonly name = "CircuitBuildError";
  override readonly cause: unknown;
  readonly path: readonly Descriptor[];
  readonly built: number;
  constructor(cause: unknown, path: readonly Descriptor[], built: number) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.cause = cause;
    this.path = path;
    this.built = built;
  }
}

/**
 * A build never carries the request, so any method may be tried again. The client only ever talks
 * to the entry: a link error is the entry's, while an EXTEND2 that fails (ERROR extend_failed, or a
 * reply whose handshake does not verify) names the relay being extended to.
 */
export function buildFailure(error: CircuitBuildError): AttemptFailure {
  const { cause, path, built } = error;
  const ids = path.map((relay) => relay.id);
  const failure: AttemptFailure = { reachedExit: "no", down: [], suspect: [] };
  if (cause instanceof LinkError) {
    if (cause.code === "link_timeout") failure.suspect.push(...ids.slice(0, built + 1));
    else if (cause.code !== "unknown_link") failure.down.push(ids[0]!);
  } else if (built === 0 && isProtocolError(cause)) {
    failure.down.push(ids[0]!);
  } else if (isProtocolError(cause) && (cause.code === "extend_failed" || cause.code === "handshake_failed")) {
    failure.down.push(ids[built]!);
  } else if (isProtocolError(cause) && cause.code === "circuit_destroyed") {
    // A hop between the entry (which answered) and the last one joined tore the circuit down.
    failure.suspect.push(...(built > 1 ? ids.slice(1, built) : ids.slice(0, built)));
  } else {
    failure.suspect.push(...ids.slice(0, built + 1));
  }
  return failure;
}

/**
 * A request on a built circuit. The entry's HTTP refusal (4xx, 503) means it forwarded nothing. A
 * DESTROY, an answer that fails its checks, a dropped link or a timeout may come after the exit
 * acted: the request may have reached it.
 */
export function requestFailure(error: unknown, hops: readonly string[]): AttemptFailure {
  const entry = hops[0]!;
  if (error instanceof LinkError) {
    if (error.status === 0 && error.code === "relay_unreachable") return { reachedExit: "no", down: [entry], suspect: [] };
    if (error.status === 0 && error.code === "link_timeout") return { reachedExit: "maybe", down: [], suspect: [...hops] };
    if (error.status === 0) return { reachedExit: "maybe", down: [entry], suspect: [] };
    if (error.code === "unknown_link") return { reachedExit: "no", down: [], suspect: [] };
    if (error.code === "unknown_relay") return { reachedExit: "no", down: [entry], suspect: [] };
    if (error.status === 429 || error.status === 503) return { reachedExit: "no", down: [], suspect: [entry] };
    if (error.status >= 400 && error.status < 500) return { reachedExit: "no", down: [], suspect: [] };
    return { reachedExit: "maybe", down: [], suspect: [entry] };
  }
  // The entry answered DESTROY, so it is alive; a hop past it failed or tore the circuit down.
  if (isProtocolError(error) && error.code === "circuit_destroyed") return { reachedExit: "maybe", down: [], suspect: hops.slice(1) };
  return { reachedExit: "maybe", down: [], suspect: [...hops] };
}

/** Whether a request that failed so may go again on a fresh circuit: always if it never reached the exit, else only an idempotent one. */
export const mayRetry = (failure: AttemptFailure, method: string): boolean => failure.reachedExit === "no" || IDEMPOTENT.has(method.toUpperCase());

export interface OnionProxyEvents {
  /** A verified consensus was used for a path. */
  consensus?(document: ConsensusDocument): void;
  /** A circuit build starts through `path` (entry first: a guard). */
  path?(path: readonly ListedRelay[], guards: GuardState): void;
  hop?(hop: CircuitHop, index: number, length: number): void;
  /** An attempt failed with `error` and the request goes again on a fresh circuit. */
  retry?(error: unknown, attempt: number): void;
}

export interface OnionProxyOptions {
  transport: CellTransport;
  /** Fetches the consensus and verifies it against the pinned directory key. */
  consensus: () => Promise<ConsensusDocument>;
  /** Milliseconds since the epoch: the reuse window, the failed relays' expiry, the consensus's age. */
  clock: () => number;
  /** Milliseconds for durations (handshakes, builds, requests); the clock when absent. */
  timer?: () => number;
  /** Fills the array with random 32-bit values (path selection); crypto.getRandomValues when absent. */
  random?: (into: Uint32Array) => Uint32Array;
  reuseMs?: number;
  consensusMaxAgeMs?: number;
  maxAttempts?: number;
  retryWindowMs?: number;
  downMs?: number;
  suspectMs?: number;
  /** Where the entry guards are kept across runs (nowhere when absent). */
  guards?: GuardStore;
  /** How many guards to keep (1–3, default 3) and after how long unusable one is replaced. */
  guardCount?: number;
  guardReplaceAfterMs?: number;
  /** Never two relays of one deployment host on a circuit (default true; off only on a dev mesh of one deployment). */
  familyRule?: boolean;
  /** Circuits kept built ahead of time for requests that ask for a circuit of their own (default 0). */
  spares?: number;
  /** The primitives of the circuits' layers and digests (WebCrypto when absent). */
  cellCrypto?: CellCrypto;
  events?: OnionProxyEvents;
}

export interface OnionRequestOptions {
  /** A circuit of its own (onion-new-circuit: 1) rather than the current one. */
  fresh?: boolean;
  /** Keeps background work (a retired circuit's DESTROY, a consensus refresh) alive after the answer. */
  waitUntil?: (promise: Promise<unknown>) => void;
  /**
   * Settles once the answer has gone out to whoever asked: a fresh request's background work (the
   * DESTROYs of the circuits it replaced, the next spare's build) waits for it (CircuitPool.release).
   */
  answered?: Promise<unknown>;
}

export interface OnionStreamOptions {
  /**
   * Streams with different isolation keys never share a circuit (Tor's IsolateSOCKSAuth: the SOCKS
   * user name and password). The empty key is the default.
   */
  isolation?: string;
}

export interface OnionStream {
  stream: ClientStream;
  /** Relay ids of the circuit carrying it, entry first. */
  path: string[];
}

export interface OnionResponse {
  result: ExitResult;
  /** The circuit that carried the request. */
  hops: readonly CircuitHop[];
  /** Relay ids of that circuit, entry first. */
  path: string[];
  /** False when the circuit was built for this request. */
  reused: boolean;
  /** How long that build took (only when not reused). */
  buildMs?: number;
  /** True when that circuit was built ahead of time (its build was not on this request's path). */
  prebuilt?: boolean;
  /** The round trip of the request through the circuit. */
  requestMs: number;
  /** 1 when the first attempt carried it. */
  attempts: number;
}

export class OnionProxy {
  private readonly options: OnionProxyOptions;
  private readonly feed: ConsensusFeed;
  private readonly pool: CircuitPool;
  /** Relay id → until when path selection leaves it out: known to have failed, or on a circuit that failed. */
  private readonly down = new Map<string, number>();
  private readonly suspect = new Map<string, number>();
  private listed: { document: ConsensusDocument; ids: Set<string> } | null = null;
  /** Circuits for streams, one pool per isolation key; each circuit with its stream multiplexer. */
  private readonly streamPools = new Map<string, CircuitPool>();
  private readonly muxes = new WeakMap<Circuit, StreamMux>();
  private readonly guardStore: GuardStore;
  private guardSet: Promise<GuardSet> | null = null;

  constructor(options: OnionProxyOptions) {
    this.options = options;
    this.guardStore = options.guards ?? memoryGuardStore();
    this.feed = new ConsensusFeed({ fetch: options.consensus, clock: options.clock, maxAgeMs: options.consensusMaxAgeMs });
    this.pool = new CircuitPool(() => this.build(), { reuseMs: options.reuseMs ?? CIRCUIT_REUSE_MS, clock: options.clock, usable: (circuit) => this.fit(circuit), spares: options.spares ?? 0 });
  }

  /** The current verified consensus (fetched when stale). */
  consensus(): Promise<ConsensusDocument> {
    return this.feed.get();
  }

  /** Relay ids path selection leaves out now: those known to have failed, and the suspects. */
  avoided(): { down: Set<string>; suspect: Set<string> } {
    const now = this.options.clock();
    const live = (marks: Map<string, number>) => {
      for (const [id, until] of marks) if (until <= now) marks.delete(id);
      return new Set(marks.keys());
    };
    return { down: live(this.down), suspect: live(this.suspect) };
  }

  /**
   * Sends `message` through a circuit and returns the exit's answer. A failed attempt marks the
   * relays it names, refreshes the consensus and, when the retry rule allows, goes again on a fresh
   * circuit built around them. Throws the last failure when no attempt carried the request.
   */
  async request(message: HttpRequestMessage, options: OnionRequestOptions = {}): Promise<OnionResponse> {
    const { clock } = this.options;
    const timer = this.options.timer ?? clock;
    const waitUntil = options.waitUntil ?? ((promise: Promise<unknown>) => void promise.catch(() => {}));
    const maxAttempts = this.options.maxAttempts ?? MAX_ATTEMPTS;
    const started = clock();
    // A held consensus past its age is refreshed alongside, so a relay that left is noticed even
    // while one circuit is reused.
    if (this.feed.current && this.feed.isStale) waitUntil(this.feed.get().catch(() => {}));
    for (let attempt = 1; ; attempt++) {
      let lease: Awaited<ReturnType<CircuitPool["acquire"]>>;
      try {
        lease = await this.pool.acquire(options.fresh ?? false);
      } catch (error) {
        // Before any circuit: the directory or the consensus failed, and retrying cannot help.
        if (!(error instanceof CircuitBuildError)) throw error;
        if (!this.after(buildFailure(error), error.cause, message.method, attempt, maxAttempts, started)) throw error.cause;
        continue;
      }
      for (const done of lease.teardown) waitUntil(done);
      const requestStarted = timer();
      try {
        const result = await lease.entry.circuit.request(message);
        const requestMs = timer() - requestStarted;
        this.finish(lease.entry, false, waitUntil, options.answered);
        const hops = lease.entry.circuit.hops;
        return { result, hops, path: hops.map((hop) => hop.relay.id), reused: lease.reused, buildMs: lease.reused ? undefined : lease.entry.buildMs, prebuilt: lease.prebuilt ?? false, requestMs, attempts: attempt };
      } catch (error) {
        this.finish(lease.entry, true, waitUntil);
        const failure = requestFailure(error, lease.entry.circuit.hops.map((hop) => hop.relay.id));
        if (!this.after(failure, error, message.method, attempt, maxAttempts, started)) throw error;
      }
    }
  }

  /**
   * Opens a TCP stream to `host:port` through a circuit of its isolation key: the exit resolves
   * the name and connects. A circuit that fails before the exit answers is replaced, as a request's
   * would be; the exit's refusal (END: policy, resolution, connection) is final, a StreamError.
   */
  async openStream(host: string, port: number, options: OnionStreamOptions = {}): Promise<OnionStream> {
    const key = options.isolation ?? "";
    this.sweepStreamPools(key);
    let pool = this.streamPools.get(key);
    if (!pool) {
      pool = new CircuitPool(() => this.build(), { reuseMs: this.options.reuseMs ?? CIRCUIT_REUSE_MS, clock: this.options.clock, usable: (circuit) => this.fit(circuit), maxInflight: MAX_STREAMS_PER_CIRCUIT });
      this.streamPools.set(key, pool);
    }
    const maxAttempts = this.options.maxAttempts ?? MAX_ATTEMPTS;
    const started = this.options.clock();
    for (let attempt = 1; ; attempt++) {
      let lease: Awaited<ReturnType<CircuitPool["acquire"]>>;
      try {
        lease = await pool.acquire(false);
      } catch (error) {
        if (!(error instanceof CircuitBuildError)) throw error;
        if (!this.after(buildFailure(error), error.cause, "BEGIN", attempt, maxAttempts, started)) throw error.cause;
        continue;
      }
      const { circuit } = lease.entry;
      let mux = this.muxes.get(circuit);
      if (!mux) {
        mux = new StreamMux(circuit);
        this.muxes.set(circuit, mux);
      }
      try {
        const stream = await mux.open(host, port);
        // The circuit is held while the stream lives: a retired circuit is destroyed only once its streams are over.
        const entry = lease.entry;
        void stream.finished.then(() => {
          const done = pool!.release(entry);
          done?.catch(() => {});
        });
        return { stream, path: circuit.hops.map((hop) => hop.relay.id) };
      } catch (error) {
        const refused = error instanceof StreamError && error.reason !== 0;
        pool.release(lease.entry);
        if (refused) throw error;
        pool.discard(lease.entry);
        // The circuit failed under the BEGIN: opening a connection twice harms no one (treated as idempotent).
        const failure = requestFailure(error, circuit.hops.map((hop) => hop.relay.id));
        if (!this.after(failure, error, "GET", attempt, maxAttempts, started)) throw error instanceof StreamError ? error : new StreamError(EndReason.MISC, error instanceof Error ? error.message : "The circuit failed.");
      }
    }
  }

  /** Stream pools kept: one per isolation key seen within a circuit's window. */
  get streamPoolCount(): number {
    return this.streamPools.size;
  }

  /**
   * The other keys' pools, whose next stream may never come: circuits past their window are
   * destroyed once their streams are over, and a pool left with nothing is dropped. Without this, a
   * program that gives every connection a SOCKS user name of its own would grow a pool, and keep a
   * circuit, per name for as long as the proxy runs.
   */
  private sweepStreamPools(except: string): void {
    for (const [key, pool] of this.streamPools) {
      if (key === except) continue;
      for (const done of pool.sweep()) done.catch(() => {});
      if (pool.idle) this.streamPools.delete(key);
    }
  }

  /** Destroys the current circuits (the caller shuts down). */
  async close(): Promise<void> {
    await Promise.all([this.pool.close(), ...[...this.streamPools.values()].map((pool) => pool.close())]);
  }

  /** Records a failed attempt; whether the request goes again. */
  private after(failure: AttemptFailure, error: unknown, method: string, attempt: number, maxAttempts: number, started: number): boolean {
    const now = this.options.clock();
    const mark = (marks: Map<string, number>, id: string, until: number) => marks.set(id, Math.max(marks.get(id) ?? 0, until));
    for (const id of failure.down) mark(this.down, id, now + (this.options.downMs ?? RELAY_DOWN_MS));
    // A guard that failed is down from now: the next circuit enters through the next guard.
    void this.guardSet?.then((guards) => failure.down.forEach((id) => guards.markDown(id, now)));
    for (const id of failure.suspect) mark(this.suspect, id, now + (this.options.suspectMs ?? RELAY_SUSPECT_MS));
    // The directory may already know: a retired relay leaves the consensus at once.
    this.feed.refresh();
    const again = mayRetry(failure, method) && attempt < maxAttempts && now - started < (this.options.retryWindowMs ?? RETRY_WINDOW_MS);
    if (again) this.options.events?.retry?.(error, attempt);
    return again;
  }

  private finish(entry: PooledCircuit, failed: boolean, waitUntil: (promise: Promise<unknown>) => void, answered?: Promise<unknown>): void {
    if (failed) this.pool.discard(entry);
    const done = this.pool.release(entry, answered);
    if (done) waitUntil(done);
  }

  /** A circuit may go on carrying requests while none of its relays failed or left the consensus. */
  private fit(circuit: Circuit): boolean {
    const { down, suspect } = this.avoided();
    const current = this.feed.current;
    if (current && this.listed?.document !== current) this.listed = { document: current, ids: new Set(current.relays.map((relay) => relay.id)) };
    return circuit.hops.every((hop) => !down.has(hop.relay.id) && !suspect.has(hop.relay.id) && (!this.listed || this.listed.ids.has(hop.relay.id)));
  }

  /** The guards, loaded from the store once (a store that fails to load starts an empty set). */
  private guards(): Promise<GuardSet> {
    this.guardSet ??= this.guardStore
      .load()
      .catch(() => null)
      .then((state) => new GuardSet(state, { size: this.options.guardCount, replaceAfterMs: this.options.guardReplaceAfterMs, random: this.options.random }));
    return this.guardSet;
  }

  /** Saves the guards when they changed; a store that fails keeps them in memory only. */
  private async saveGuards(guards: GuardSet): Promise<void> {
    if (guards.takeChanged()) await this.guardStore.save(guards.state).catch(() => {});
  }

  /**
   * The entry is a guard; the exit and the middle go around the relays that failed recently — with
   * too few left, the suspects, then all, are allowed again.
   */
  private choosePath(document: ConsensusDocument, guards: GuardSet): ListedRelay[] {
    const { down, suspect } = this.avoided();
    const entry = guards.entry(document.relays, this.options.clock(), down);
    const tiers = [new Set([...down, ...suspect]), down, new Set<string>()];
    for (const [i, excluded] of tiers.entries()) {
      try {
        return selectPath(document.relays, { entry, exclude: [...excluded], familyRule: this.options.familyRule, random: this.options.random });
      } catch (error) {
        if (!(isProtocolError(error) && error.code === "not_enough_relays") || i === tiers.length - 1) throw error;
      }
    }
    throw new Error("unreachable");
  }

  private async build(): Promise<Circuit> {
    const document = await this.feed.get();
    this.options.events?.consensus?.(document);
    const guards = await this.guards();
    const path = this.choosePath(document, guards);
    await this.saveGuards(guards);
    this.options.events?.path?.(path, guards.state);
    let built = 0;
    try {
      const circuit = await Circuit.build(path, this.options.transport, {
        clock: this.options.timer ?? this.options.clock,
        cellCrypto: this.options.cellCrypto,
        onHop: (hop, index) => {
          built = index + 1;
          this.options.events?.hop?.(hop, index, path.length);
        },
      });
      guards.markUp(path[0]!.id);
      await this.saveGuards(guards);
      return circuit;
    } catch (error) {
      throw new CircuitBuildError(error, path, built);
    }
  }
}
