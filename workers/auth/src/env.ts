// The Worker's bindings and the auth server's configuration, parsed once and checked.

import { SCRAM_DEFAULT_ITERATIONS, SCRAM_MAX_ITERATIONS, SCRAM_MIN_ITERATIONS } from "@shallot/protocol";

export interface Env {
  DB: D1Database;
  /** base64url of a 32-byte X25519 private key; a secret, never in wrangler.toml. */
  AUTH_HPKE_KEY?: string;
  TOKEN_TTL_MS?: string;
  CHALLENGE_TTL_MS?: string;
  SCRAM_ITERATIONS?: string;
}

export interface AuthConfig {
  tokenTtlMs: number;
  challengeTtlMs: number;
  /** Iterations of the SCRAM challenges given to unknown usernames. */
  scramIterations: number;
}

export type ConfigResult = { ok: true; config: AuthConfig } | { ok: false; message: string };

const DEFAULTS = { tokenTtlMs: 3_600_000, challengeTtlMs: 60_000, scramIterations: SCRAM_DEFAULT_ITERATIONS } as const;

function positiveInteger(name: string, raw: string | undefined, fallback: number): number | string {
  if (raw === undefined || raw === "") return fallback;
  if (!/^[1-9][0-9]*$/.test(raw) || !Number.isSafeInteger(Number(raw))) return `${name} must be a positive integer.`;
  return Number(raw);
}

export function parseConfig(env: Partial<Env>): ConfigResult {
  const tokenTtlMs = positiveInteger("TOKEN_TTL_MS", env.TOKEN_TTL_MS, DEFAULTS.tokenTtlMs);
  if (typeof tokenTtlMs === "string") return { ok: false, message: tokenTtlMs };
  const challengeTtlMs = positiveInteger("CHALLENGE_TTL_MS", env.CHALLENGE_TTL_MS, DEFAULTS.challengeTtlMs);
  if (typeof challengeTtlMs === "string") return { ok: false, message: challengeTtlMs };
  const scramIterations = positiveInteger("SCRAM_ITERATIONS", env.SCRAM_ITERATIONS, DEFAULTS.scramIterations);
  if (typeof scramIterations === "string") return { ok: false, message: scramIterations };
  if (scramIterations < SCRAM_MIN_ITERATIONS || scramIterations > SCRAM_MAX_ITERATIONS) {
    return { ok: false, message: `SCRAM_ITERATIONS must be from ${SCRAM_MIN_ITERATIONS} to ${SCRAM_MAX_ITERATIONS}.` };
  }
  return { ok: true, config: { tokenTtlMs, challengeTtlMs, scramIterations } };
}
