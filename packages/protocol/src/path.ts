// Path selection: three distinct relays, uniformly at random, never the sender itself.

import type { Descriptor } from "./descriptor.ts";
import { ProtocolError } from "./errors.ts";

export const CIRCUIT_LENGTH = 3;

/** Uniform integer in [0, bound) without modulo bias. */
export function randomIndex(bound: number, random: (into: Uint32Array) => Uint32Array = (a) => crypto.getRandomValues(a)): number {
  const limit = Math.floor(0x1_0000_0000 / bound) * bound;
  const sample = new Uint32Array(1);
  for (;;) {
    random(sample);
    if (sample[0]! < limit) return sample[0]! % bound;
  }
}

export function selectPath(relays: readonly Descriptor[], options: { exclude?: readonly string[]; length?: number; random?: (into: Uint32Array) => Uint32Array } = {}): Descriptor[] {
  const length = options.length ?? CIRCUIT_LENGTH;
  const excluded = new Set(options.exclude ?? []);
  const candidates = [...new Map(relays.filter((r) => !excluded.has(r.id)).map((r) => [r.id, r])).values()];
  if (candidates.length < length) {
    throw new ProtocolError("not_enough_relays", `A circuit needs ${length} distinct relays; the consensus has ${candidates.length} usable.`);
  }
  const path: Descriptor[] = [];
  for (let i = 0; i < length; i++) {
    const [chosen] = candidates.splice(randomIndex(candidates.length, options.random), 1);
    path.push(chosen!);
  }
  return path;
}
