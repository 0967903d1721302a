// Entry guards (Tor's guard-spec, in spirit). A client keeps a few guards, 1 to 3, across runs, and
// every circuit it builds enters the network through the first of them that is usable; so a
// hostile relay gets to be a client's entry only if it was drawn as a guard, not on every circuit.
// A guard is usable while the consensus lists it with the Guard flag (any Running relay, in a young
// network that has no Guard-flagged relay yet) and the client has not just seen it fail. A guard
// is replaced only when it has been unusable for `replaceAfterMs` — or, when every guard is down at
// once, the one down the longest makes room for a new one. Pure: the clock, randomness and where
// the state is kept belong to the caller.

import * as v from "valibot";
import { type ListedRelay, hasFlag } from "./consensus.ts";
import { RelayIdSchema } from "./descriptor.ts";
import { ProtocolError } from "./errors.ts";
import { type Random, randomIndex } from "./path.ts";

/** Guards kept at most (Tor's primary guards). */
export const GUARD_COUNT = 3;
/** A guard unusable this long (unlisted, not a Guard any more, or failing) is replaced. */
export const GUARD_REPLACE_AFTER_MS = 24 * 60 * 60_000;

const Time = v.pipe(v.number(), v.integer(), v.minValue(0));

export const GuardStateSchema = v.strictObject({
  version: v.literal(1),
  guards: v.pipe(
    v.array(v.strictObject({ id: RelayIdSchema, addedAt: Time, downSince: v.nullable(Time) })),
    v.maxLength(GUARD_COUNT),
  ),
});
export type GuardState = v.InferOutput<typeof GuardStateSchema>;
export type GuardRecord = GuardState["guards"][number];

/** Where a client keeps its guards across runs: the CLI in a file, the gateway in a Durable Object. */
export interface GuardStore {
  load(): Promise<GuardState | null>;
  save(state: GuardState): Promise<void>;
}

/** Stored state as read back (a file, storage): null unless it is a valid state. */
export const parseGuardState = (stored: unknown): GuardState | null => {
  const parsed = v.safeParse(GuardStateSchema, stored);
  return parsed.success ? parsed.output : null;
};

export interface GuardSetOptions {
  /** How many guards to keep at most (1 to 3; default 3). */
  size?: number;
  replaceAfterMs?: number;
  random?: Random;
}

export class GuardSet {
  private guards: GuardRecord[];
  private changed = false;
  private readonly size: number;
  private readonly replaceAfterMs: number;
  private readonly random: Random | undefined;

  constructor(state: GuardState | null, options: GuardSetOptions = {}) {
    this.size = Math.min(GUARD_COUNT, Math.max(1, options.size ?? GUARD_COUNT));
    this.replaceAfterMs = options.replaceAfterMs ?? GUARD_REPLACE_AFTER_MS;
    this.random = options.random;
    this.guards = (state?.guards ?? []).slice(0, this.size).map((guard) => ({ ...guard }));
  }

  get state(): GuardState {
    return { version: 1, guards: this.guards.map((guard) => ({ ...guard })) };
  }

  /** True once after any change, so the caller knows when to save. */
  takeChanged(): boolean {
    const changed = this.changed;
    this.changed = false;
    return changed;
  }

  /**
   * The entry for a new circuit: the first usable guard, after dropping those unusable for too
   * long; a new guard, drawn among the Guard-flagged relays, when none is usable. `down` holds the
   * relays the client saw fail just now.
   */
  entry(relays: readonly ListedRelay[], now: number, down: ReadonlySet<string> = new Set()): ListedRelay {
    const running = relays.filter((relay) => hasFlag(relay, "Running"));
    const flagged = running.filter((relay) => hasFlag(relay, "Guard"));
    // A network too young for Guard flags: any running relay may be a guard.
    const eligible = new Map((flagged.length > 0 ? flagged : running).map((relay) => [relay.id, relay]));
    for (const guard of this.guards) {
      if ((!eligible.has(guard.id) || down.has(guard.id)) && guard.downSince === null) this.update(guard, now);
    }
    const kept = this.guards.filter((guard) => guard.downSince === null || now - guard.downSince < this.replaceAfterMs);
    if (kept.length !== this.guards.length) {
      this.guards = kept;
      this.changed = true;
    }
    const usable = this.guards.find((guard) => eligible.has(guard.id) && !down.has(guard.id));
    if (usable) return eligible.get(usable.id)!;

    const mine = new Set(this.guards.map((guard) => guard.id));
    let candidates = [...eligible.values()].filter((relay) => !mine.has(relay.id) && !down.has(relay.id));
    if (candidates.length === 0) candidates = [...eligible.values()].filter((relay) => !mine.has(relay.id));
    if (candidates.length === 0) {
      // Every eligible relay is a guard already, and each was seen failing: try the first listed one again.
      const listed = this.guards.find((guard) => eligible.has(guard.id));
      if (listed) return eligible.get(listed.id)!;
      throw new ProtocolError("not_enough_relays", "No relay in the consensus can be an entry guard.");
    }
    const chosen = candidates[randomIndex(candidates.length, this.random)]!;
    if (this.guards.length >= this.size) {
      // Every guard is down: the one down the longest makes room.
      const oldest = this.guards.reduce((a, b) => ((a.downSince ?? now) <= (b.downSince ?? now) ? a : b));
      this.guards = this.guards.filter((guard) => guard !== oldest);
    }
    this.guards.push({ id: chosen.id, addedAt: now, downSince: null });
    this.changed = true;
    return chosen;
  }

  /** A guard failed (unreachable, gone, refused a handshake): it is down from now, if not already. */
  markDown(id: string, now: number): void {
    const guard = this.guards.find((g) => g.id === id);
    if (guard && guard.downSince === null) this.update(guard, now);
  }

  /** A circuit was built through this guard: it is up. */
  markUp(id: string): void {
    const guard = this.guards.find((g) => g.id === id);
    if (guard && guard.downSince !== null) this.update(guard, null);
  }

  private update(guard: GuardRecord, downSince: number | null): void {
    guard.downSince = downSince;
    this.changed = true;
  }
}

/** A GuardStore that keeps nothing across runs (tests, or a client without storage). */
export const memoryGuardStore = (initial: GuardState | null = null): GuardStore & { state: GuardState | null } => {
  const store = {
    state: initial,
    load: async () => store.state,
    save: async (state: GuardState) => void (store.state = state),
  };
  return store;
};
