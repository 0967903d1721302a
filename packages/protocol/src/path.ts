// Path selection (Tor's path-spec, in spirit): only relays the consensus marks Running; the exit
// carries the Exit flag; the entry is the client's guard when it has one; and, as a family rule,
// two relays of one deployment host are never on one circuit. Each hop is drawn uniformly at random
// among those that fit.

import type { ListedRelay } from "./consensus.ts";
import { hasFlag } from "./consensus.ts";
import { deploymentHost } from "./descriptor.ts";
import { ProtocolError } from "./errors.ts";

export const CIRCUIT_LENGTH = 3;

export type Random = (into: Uint32Array) => Uint32Array;

/** Uniform integer in [0, bound) without modulo bias. */
export function randomIndex(bound: number, random: Random = (a) => crypto.getRandomValues(a)): number {
  const limit = Math.floor(0x1_0000_0000 / bound) * bound;
  const sample = new Uint32Array(1);
  for (;;) {
    random(sample);
    if (sample[0]! < limit) return sample[0]! % bound;
  }
}

export interface PathOptions {
  /** The entry, chosen by the caller (its guard); drawn like the middle hops when absent. */
  entry?: ListedRelay;
  /** Relay ids never chosen (the entry excepted). */
  exclude?: readonly string[];
  /** Hops, entry and exit included (default 3). */
  length?: number;
  /** Never two relays of one deployment host on a circuit (default true; the dev mesh may turn it off). */
  familyRule?: boolean;
  random?: Random;
}

const notEnough = (message: string) => new ProtocolError("not_enough_relays", message);

/** The relays of a circuit, entry first and exit last. Throws not_enough_relays when no path fits. */
export function selectPath(relays: readonly ListedRelay[], options: PathOptions = {}): ListedRelay[] {
  const length = options.length ?? CIRCUIT_LENGTH;
  if (length < 2) throw new RangeError("A path has an entry and an exit.");
  const familyRule = options.familyRule ?? true;
  const excluded = new Set(options.exclude ?? []);
  const running = [...new Map(relays.filter((r) => hasFlag(r, "Running") && !excluded.has(r.id)).map((r) => [r.id, r])).values()];
  if (running.length + (options.entry && !running.some((r) => r.id === options.entry!.id) ? 1 : 0) < length) {
    throw notEnough(`A circuit needs ${length} distinct relays; the consensus has ${running.length} usable.`);
  }
  const chosen: ListedRelay[] = [];
  const families = new Set<string>();
  const fits = (relay: ListedRelay) => !chosen.some((c) => c.id === relay.id) && !(familyRule && families.has(deploymentHost(relay.address)));
  const take = (relay: ListedRelay) => {
    chosen.push(relay);
    families.add(deploymentHost(relay.address));
    return relay;
  };
  const draw = (pool: ListedRelay[], role: string): ListedRelay => {
    const candidates = pool.filter(fits);
    if (candidates.length === 0) {
      const which = role === "exit" ? "with the Exit flag is left" : "is left";
      throw notEnough(`No relay can be the ${role}: none ${which}${familyRule ? " outside the deployments already on the circuit (family rule)" : ""}.`);
    }
    return take(candidates[randomIndex(candidates.length, options.random)]!);
  };

  // As Tor: the entry (guard) first when it is given, then the exit, then the middle hops.
  const entry = options.entry ? take(options.entry) : null;
  const exit = draw(running.filter((r) => hasFlag(r, "Exit")), "exit");
  const middles: ListedRelay[] = [];
  const firstHop = entry ?? draw(running, "entry");
  for (let i = 0; i < length - 2; i++) middles.push(draw(running, "middle hop"));
  return [firstHop, ...middles, exit];
}
