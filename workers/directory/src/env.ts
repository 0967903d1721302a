// The Worker's bindings and the directory's configuration, parsed once and checked.

import { fromBase64Url } from "@shallot/protocol";
import type { Directory } from "./directory.ts";

export interface Env {
  DIRECTORY: DurableObjectNamespace<Directory>;
  /** base64url of a 32-byte Ed25519 seed; a secret, never in wrangler.toml. */
  DIRECTORY_SIGNING_KEY?: string;
  RELAY_TTL_MS?: string;
  PING_INTERVAL_MS?: string;
  /** Most relays the consensus lists; keeps it far below what clients accept (4 MiB). */
  MAX_RELAYS?: string;
  /** "true" admits relays at loopback/private addresses (the dev mesh); production refuses them. */
  ALLOW_PRIVATE_RELAY_ADDRESSES?: string;
}

export interface DirectoryConfig {
  signingSeed: string;
  relayTtlMs: number;
  pingIntervalMs: number;
  maxRelays: number;
  allowPrivateRelayAddresses: boolean;
}

export type ConfigResult = { ok: true; config: DirectoryConfig } | { ok: false; message: string };

const DEFAULTS = { relayTtlMs: 30_000, pingIntervalMs: 10_000, maxRelays: 1000 } as const;

function positiveInteger(name: string, raw: string | undefined, fallback: number): number | string {
  if (raw === undefined || raw === "") return fallback;
  if (!/^[1-9][0-9]*$/.test(raw) || !Number.isSafeInteger(Number(raw))) return `${name} must be a positive integer.`;
  return Number(raw);
}

function seedProblem(seed: string | undefined): string | null {
  if (!seed) return "DIRECTORY_SIGNING_KEY is not set.";
  try {
    if (fromBase64Url(seed).length === 32) return null;
  } catch {
    // falls through to the message below
  }
  return "DIRECTORY_SIGNING_KEY must be the base64url encoding of a 32-byte Ed25519 seed.";
}

export function parseConfig(env: Partial<Env>): ConfigResult {
  const problem = seedProblem(env.DIRECTORY_SIGNING_KEY);
  if (problem) return { ok: false, message: problem };
  const relayTtlMs = positiveInteger("RELAY_TTL_MS", env.RELAY_TTL_MS, DEFAULTS.relayTtlMs);
  if (typeof relayTtlMs === "string") return { ok: false, message: relayTtlMs };
  const pingIntervalMs = positiveInteger("PING_INTERVAL_MS", env.PING_INTERVAL_MS, DEFAULTS.pingIntervalMs);
  if (typeof pingIntervalMs === "string") return { ok: false, message: pingIntervalMs };
  // A relay that pings less often than the TTL would drop out of the consensus between pings.
  if (pingIntervalMs >= relayTtlMs) return { ok: false, message: "PING_INTERVAL_MS must be shorter than RELAY_TTL_MS." };
  const maxRelays = positiveInteger("MAX_RELAYS", env.MAX_RELAYS, DEFAULTS.maxRelays);
  if (typeof maxRelays === "string") return { ok: false, message: maxRelays };
  const allowPrivateRelayAddresses = env.ALLOW_PRIVATE_RELAY_ADDRESSES === "true" || env.ALLOW_PRIVATE_RELAY_ADDRESSES === "1";
  return { ok: true, config: { signingSeed: env.DIRECTORY_SIGNING_KEY!, relayTtlMs, pingIntervalMs, maxRelays, allowPrivateRelayAddresses } };
}
