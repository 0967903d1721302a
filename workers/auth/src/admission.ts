// Whether a challenge or a registration may be issued now, and at what price (docs/auth.md §2.4):
// 503 busy past a server-wide cap, 429 pow_required when the counters call for a puzzle and the
// request has no fresh solution, else the statements that count the request (run with its writes).

import type { PuzzleSolution } from "@shallot/protocol";
import type { AuthLimits } from "./env.ts";
import { ApiError } from "./http-error.ts";
import { bumpPressure, loadBits, prunePressure, readPressure, serverBuckets, stepBits, userBuckets } from "./pressure.ts";
import { type PuzzlePurpose, puzzleRequired, spendPuzzle } from "./puzzle.ts";

export interface Admission {
  db: D1Database;
  limits: AuthLimits;
  username: string;
  pow: PuzzleSolution | undefined;
  now: number;
  /** The puzzle key; only asked for when a puzzle is needed (a quiet clear registration needs no key). */
  puzzleKey: () => Promise<CryptoKey>;
}

const busy = (what: string, excess: number, leakMs: number) =>
  new ApiError(503, "busy", `The server is issuing too many ${what}; retry later.`, { "Retry-After": String(Math.max(1, Math.ceil((excess * leakMs) / 1000))) });

async function requirePuzzle(a: Admission, purpose: PuzzlePurpose, bits: number): Promise<void> {
  if (bits === 0) return;
  const key = await a.puzzleKey();
  if (!(await spendPuzzle(a.db, key, purpose, a.username, a.pow, bits, a.now))) throw await puzzleRequired(key, purpose, a.username, bits, a.now);
}

/** POST /challenge: priced by the name's failures and recent challenges, and the server's load. */
export async function admitChallenge(a: Admission): Promise<D1PreparedStatement[]> {
  const { db, limits, now } = a;
  const mine = await userBuckets(a.username, limits);
  const server = serverBuckets(limits);
  const [failures, recent, all] = await readPressure(db, [mine.failures, mine.challenges, server.challenges], now, limits.maxPressureRows);
  if (all! >= limits.challengeCap) throw busy("challenges", all! - limits.challengeCap + 1, limits.challengeLeakMs);
  await requirePuzzle(a, "challenge", Math.max(stepBits(failures!, limits.freeFailures, limits), stepBits(recent!, limits.freeUserChallenges, limits), loadBits(all!, limits.freeChallenges, limits)));
  return [prunePressure(db, now), bumpPressure(db, mine.challenges, now, limits.maxPressureRows), bumpPressure(db, server.challenges, now, limits.maxPressureRows)];
}

/**
 * POST /register: priced by the tries at this name and the server's load. Each try costs the same
 * whether the name turns out taken or not, so enumeration by registration pays for every name.
 */
export async function admitRegistration(a: Admission): Promise<D1PreparedStatement[]> {
  const { db, limits, now } = a;
  const mine = await userBuckets(a.username, limits);
  const server = serverBuckets(limits);
  const [tries, all] = await readPressure(db, [mine.registrations, server.registrations], now, limits.maxPressureRows);
  if (all! >= limits.registrationCap) throw busy("registrations", all! - limits.registrationCap + 1, limits.registrationLeakMs);
  await requirePuzzle(a, "register", Math.max(stepBits(tries!, limits.freeUserRegistrations, limits), loadBits(all!, limits.freeRegistrations, limits)));
  return [prunePressure(db, now), bumpPressure(db, mine.registrations, now, limits.maxPressureRows), bumpPressure(db, server.registrations, now, limits.maxPressureRows)];
}
