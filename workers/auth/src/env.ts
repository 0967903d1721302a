// The Worker's bindings and the auth server's configuration, parsed once and checked.

import { MAX_PUZZLE_BITS, SCRAM_DEFAULT_ITERATIONS, SCRAM_MAX_ITERATIONS, SCRAM_MIN_ITERATIONS } from "@shallot/protocol";
import * as v from "valibot";

export interface Env {
  DB: D1Database;
  /** base64url of a 32-byte X25519 private key; a secret, never in wrangler.toml. */
  AUTH_HPKE_KEY?: string;
  TOKEN_TTL_MS?: string;
  CHALLENGE_TTL_MS?: string;
  SCRAM_ITERATIONS?: string;
  /** JSON object overriding any of DEFAULT_LIMITS (docs/auth.md §6). */
  AUTH_LIMITS?: string;
}

/**
 * Puzzles, caps and table bounds (docs/auth.md §2 "Puzzles and caps"). A counter ("pressure") leaks
 * one unit per its leak period; below its free allowance nothing is asked, above it a puzzle is.
 */
export const DEFAULT_LIMITS = {
  /** The largest puzzle asked for; MAX_PUZZLE_BITS (20) is what clients agree to solve (2^20 hashes, about 0.4 s). */
  powMaxBits: MAX_PUZZLE_BITS,
  /** The first puzzle's bits, and the bits each step above the allowance adds. */
  powMinBits: 12,
  powStepBits: 2,
  /** Failed logins of one username before its challenges need a puzzle; one is forgotten every failureLeakMs. */
  freeFailures: 3,
  failureLeakMs: 600_000,
  /** Challenges issued for one username before the next needs a puzzle; one is forgotten every userChallengeLeakMs. */
  freeUserChallenges: 10,
  userChallengeLeakMs: 6_000,
  /** Live challenges kept per username; a new one evicts the oldest. */
  liveChallengesPerUser: 4,
  /** Challenges issued by the whole server: free up to this backlog, 503 past challengeCap. */
  freeChallenges: 300,
  challengeCap: 3_000,
  challengeLeakMs: 100,
  /** Registrations of one username (taken or not) before the next needs a puzzle. */
  freeUserRegistrations: 2,
  userRegistrationLeakMs: 600_000,
  /** Registrations of the whole server: free up to this backlog, 503 past registrationCap. */
  freeRegistrations: 30,
  registrationCap: 600,
  registrationLeakMs: 2_000,
  /** Rows of the pressure table; when it is full, a username without a row is asked for the largest puzzle. */
  maxPressureRows: 100_000,
  /** Live sessions per user; a new login evicts the oldest. */
  maxSessionsPerUser: 10,
};
export type AuthLimits = typeof DEFAULT_LIMITS;

export interface AuthConfig {
  tokenTtlMs: number;
  challengeTtlMs: number;
  /** Iterations of the SCRAM challenges given to unknown usernames. */
  scramIterations: number;
  limits: AuthLimits;
}

export type ConfigResult = { ok: true; config: AuthConfig } | { ok: false; message: string };

const DEFAULTS = { tokenTtlMs: 3_600_000, challengeTtlMs: 60_000, scramIterations: SCRAM_DEFAULT_ITERATIONS } as const;

const count = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1e9));
const period = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1e9));
const LimitsSchema = v.strictObject({
  powMaxBits: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_PUZZLE_BITS))),
  powMinBits: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_PUZZLE_BITS))),
  powStepBits: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_PUZZLE_BITS))),
  freeFailures: v.optional(count),
  failureLeakMs: v.optional(period),
  freeUserChallenges: v.optional(count),
  userChallengeLeakMs: v.optional(period),
  liveChallengesPerUser: v.optional(v.pipe(count, v.minValue(1))),
  freeChallenges: v.optional(count),
  challengeCap: v.optional(v.pipe(count, v.minValue(1))),
  challengeLeakMs: v.optional(period),
  freeUserRegistrations: v.optional(count),
  userRegistrationLeakMs: v.optional(period),
  freeRegistrations: v.optional(count),
  registrationCap: v.optional(v.pipe(count, v.minValue(1))),
  registrationLeakMs: v.optional(period),
  maxPressureRows: v.optional(v.pipe(count, v.minValue(1))),
  maxSessionsPerUser: v.optional(v.pipe(count, v.minValue(1))),
});

function positiveInteger(name: string, raw: string | undefined, fallback: number): number | string {
  if (raw === undefined || raw === "") return fallback;
  if (!/^[1-9][0-9]*$/.test(raw) || !Number.isSafeInteger(Number(raw))) return `${name} must be a positive integer.`;
  return Number(raw);
}

function parseLimits(raw: string | undefined): AuthLimits | string {
  if (raw === undefined || raw === "") return DEFAULT_LIMITS;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return "AUTH_LIMITS must be a JSON object.";
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return "AUTH_LIMITS must be a JSON object.";
  const parsed = v.safeParse(LimitsSchema, json);
  if (!parsed.success) {
    const key = parsed.issues[0]?.path?.[0]?.key;
    return key === undefined ? "AUTH_LIMITS must be a JSON object of known limits." : `AUTH_LIMITS.${String(key)} is invalid.`;
  }
  const limits = { ...DEFAULT_LIMITS, ...parsed.output };
  if (limits.powMinBits > limits.powMaxBits) return "AUTH_LIMITS.powMinBits must not exceed powMaxBits.";
  return limits;
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
  const limits = parseLimits(env.AUTH_LIMITS);
  if (typeof limits === "string") return { ok: false, message: limits };
  return { ok: true, config: { tokenTtlMs, challengeTtlMs, scramIterations, limits } };
}
