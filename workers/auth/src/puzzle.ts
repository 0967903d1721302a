// The server's side of the client puzzle (packages/protocol/src/auth/puzzle.ts): seeds bound to the
// purpose, the username and a five-minute epoch, so they need no table; a solution is accepted for
// the current and the previous epoch, once (spent_puzzles).

import { type PuzzleSolution, checkPuzzle, fromHex, puzzleDigest, toHex, utf8 } from "@shallot/protocol";
import { ApiError } from "./http-error.ts";

export const PUZZLE_EPOCH_MS = 300_000;
export type PuzzlePurpose = "challenge" | "register";

/** seed = HMAC-SHA256(K, "shallot-auth-v1 puzzle\n" ‖ purpose ‖ "\n" ‖ epoch ‖ "\n" ‖ username), hex. */
export async function puzzleSeed(key: CryptoKey, purpose: PuzzlePurpose, username: string, epoch: number): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8(`shallot-auth-v1 puzzle\n${purpose}\n${epoch}\n${username}`))));
}

/** The 429 that asks for a puzzle: `{ error: "pow_required", message, pow: { seed, bits } }`. */
export async function puzzleRequired(key: CryptoKey, purpose: PuzzlePurpose, username: string, bits: number, now: number): Promise<ApiError> {
  const seed = await puzzleSeed(key, purpose, username, Math.floor(now / PUZZLE_EPOCH_MS));
  return new ApiError(429, "pow_required", `Solve the ${bits}-bit puzzle in "pow" and send the request again with "pow": { "seed", "nonce" } (docs/auth.md).`, {}, { pow: { seed, bits } });
}

/**
 * True when `solution` is a fresh solution of at least `bits` for this purpose and username; it is
 * then spent. Anything else (no solution, another seed, too few bits, already used) is false.
 */
export async function spendPuzzle(db: D1Database, key: CryptoKey, purpose: PuzzlePurpose, username: string, solution: PuzzleSolution | undefined, bits: number, now: number): Promise<boolean> {
  if (!solution) return false;
  const epoch = Math.floor(now / PUZZLE_EPOCH_MS);
  const seeds = [await puzzleSeed(key, purpose, username, epoch), await puzzleSeed(key, purpose, username, epoch - 1)];
  if (!seeds.includes(solution.seed)) return false;
  if (!(await checkPuzzle(solution.seed, bits, solution.nonce))) return false;
  const digest = toHex(await puzzleDigest(fromHex(solution.seed), fromHex(solution.nonce)));
  const [, spent] = await db.batch([
    db.prepare("DELETE FROM spent_puzzles WHERE expires_at <= ?").bind(now),
    db.prepare("INSERT INTO spent_puzzles (digest, expires_at) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING RETURNING digest").bind(digest, (epoch + 2) * PUZZLE_EPOCH_MS),
  ]);
  return spent!.results.length === 1;
}
