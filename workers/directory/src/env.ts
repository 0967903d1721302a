// The Worker's bindings and the authority's configuration, parsed once and checked.

import { type Authority, AuthorityListError, fromBase64Url, parseAuthorities } from "@shallot/protocol";
import type { Directory } from "./directory.ts";

export interface Env {
  DIRECTORY: DurableObjectNamespace<Directory>;
  /** base64url of a 32-byte Ed25519 seed: this authority's key; a secret, never in wrangler.toml. */
  DIRECTORY_SIGNING_KEY?: string;
  /** Every authority of the network, this one included: `KEY@URL, KEY@URL, …`. */
  DIRECTORY_AUTHORITIES?: string;
  RELAY_TTL_MS?: string;
  PING_INTERVAL_MS?: string;
  /** Most relays this authority keeps descriptors of (listed or being tested). */
  MAX_RELAYS?: string;
  /** "true" admits relays at loopback/private addresses (the dev mesh); production refuses them. */
  ALLOW_PRIVATE_RELAY_ADDRESSES?: string;
  /** Length of a voting round; the same on every authority. */
  CONSENSUS_PERIOD_MS?: string;
  /** How often a relay's reachability is tested again. */
  RETEST_MS?: string;
  /** Deadline of one reachability test (descriptor fetch, CREATE2, DESTROY). */
  TEST_TIMEOUT_MS?: string;
  /** Continuous uptime (passing tests) after which a relay is Stable, then Guard. */
  STABLE_AFTER_MS?: string;
  GUARD_AFTER_MS?: string;
  /** Most relays of one deployment host voted for and listed (K); the same on every authority. */
  MAX_RELAYS_PER_HOST?: string;
  /** Optional closed network: only relays of these deployment hosts (host[:port], comma or space separated). */
  ALLOWED_HOSTS?: string;
}

export interface DirectoryConfig {
  signingSeed: string;
  authorities: Authority[];
  relayTtlMs: number;
  pingIntervalMs: number;
  maxRelays: number;
  allowPrivateRelayAddresses: boolean;
  periodMs: number;
  retestMs: number;
  testTimeoutMs: number;
  stableAfterMs: number;
  guardAfterMs: number;
  maxRelaysPerHost: number;
  /** null: every host may join. */
  allowedHosts: Set<string> | null;
}

export type ConfigResult = { ok: true; config: DirectoryConfig } | { ok: false; message: string };

export const DEFAULTS = {
  relayTtlMs: 30_000,
  pingIntervalMs: 10_000,
  maxRelays: 1000,
  periodMs: 60_000,
  retestMs: 300_000,
  testTimeoutMs: 5_000,
  stableAfterMs: 3_600_000,
  guardAfterMs: 86_400_000,
  maxRelaysPerHost: 2,
} as const;

class ConfigError extends Error {}

function integer(name: string, raw: string | undefined, fallback: number, minimum = 1): number {
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw)) || Number(raw) < minimum) throw new ConfigError(`${name} must be an integer of at least ${minimum}.`);
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
  try {
    let authorities: Authority[];
    try {
      authorities = parseAuthorities(env.DIRECTORY_AUTHORITIES ?? "");
    } catch (error) {
      if (error instanceof AuthorityListError) throw new ConfigError(`DIRECTORY_AUTHORITIES: ${error.message}`);
      throw error;
    }
    const relayTtlMs = integer("RELAY_TTL_MS", env.RELAY_TTL_MS, DEFAULTS.relayTtlMs);
    const pingIntervalMs = integer("PING_INTERVAL_MS", env.PING_INTERVAL_MS, DEFAULTS.pingIntervalMs);
    // A relay that pings less often than the TTL would drop out between pings.
    if (pingIntervalMs >= relayTtlMs) throw new ConfigError("PING_INTERVAL_MS must be shorter than RELAY_TTL_MS.");
    const periodMs = integer("CONSENSUS_PERIOD_MS", env.CONSENSUS_PERIOD_MS, DEFAULTS.periodMs, 1000);
    const stableAfterMs = integer("STABLE_AFTER_MS", env.STABLE_AFTER_MS, DEFAULTS.stableAfterMs, 0);
    const guardAfterMs = integer("GUARD_AFTER_MS", env.GUARD_AFTER_MS, DEFAULTS.guardAfterMs, 0);
    if (guardAfterMs < stableAfterMs) throw new ConfigError("GUARD_AFTER_MS must be at least STABLE_AFTER_MS (a guard is stable for longer).");
    const hosts = (env.ALLOWED_HOSTS ?? "").split(/[\s,]+/).filter((host) => host !== "").map((host) => host.toLowerCase());
    return {
      ok: true,
      config: {
        signingSeed: env.DIRECTORY_SIGNING_KEY!,
        authorities,
        relayTtlMs,
        pingIntervalMs,
        maxRelays: integer("MAX_RELAYS", env.MAX_RELAYS, DEFAULTS.maxRelays),
        allowPrivateRelayAddresses: env.ALLOW_PRIVATE_RELAY_ADDRESSES === "true" || env.ALLOW_PRIVATE_RELAY_ADDRESSES === "1",
        periodMs,
        retestMs: integer("RETEST_MS", env.RETEST_MS, DEFAULTS.retestMs, 1000),
        testTimeoutMs: integer("TEST_TIMEOUT_MS", env.TEST_TIMEOUT_MS, DEFAULTS.testTimeoutMs, 100),
        stableAfterMs,
        guardAfterMs,
        maxRelaysPerHost: integer("MAX_RELAYS_PER_HOST", env.MAX_RELAYS_PER_HOST, DEFAULTS.maxRelaysPerHost),
        allowedHosts: hosts.length > 0 ? new Set(hosts) : null,
      },
    };
  } catch (error) {
    if (error instanceof ConfigError) return { ok: false, message: error.message };
    throw error;
  }
}
