import { MAX_PUZZLE_BITS, expectedPuzzleWork, fromHex, leadingZeroBits, puzzleDigest, solvePuzzle, toHex } from "@shallot/protocol";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_LIMITS, parseConfig } from "../src/env.ts";
import { serverKey } from "../src/hpke-key.ts";
import { loadBits, stepBits } from "../src/pressure.ts";
import { PUZZLE_EPOCH_MS, puzzleSeed } from "../src/puzzle.ts";
import { type ChallengeBody, answerTo, call, callWith, clientNonce, dbSnapshot, expectError, registerScram, registerSeed, sendJsonWith, shaHex } from "./helpers.ts";

type Send = typeof call;
/** Small puzzles so the tests stay quick; the defaults' bound is checked on its own below. */
const SMALL = { powMinBits: 4, powStepBits: 2, powMaxBits: 10 };
const withLimits = (limits: Record<string, number>): Send => callWith({ AUTH_LIMITS: JSON.stringify({ ...SMALL, ...limits }) });

interface Puzzle {
  seed: string;
  bits: number;
}

/** POST `path` with `body`; on 429 pow_required, solve and send again. Returns the answer and the bits paid. */
async function solving(send: Send, path: string, body: Record<string, unknown>): Promise<{ response: Response; bits: number }> {
  const first = await sendJsonWith(send, "POST", path, body);
  if (first.status !== 429) return { response: first, bits: 0 };
  const { error, pow } = (await first.json()) as { error: string; pow: Puzzle };
  expect(error).toBe("pow_required");
  return { response: await sendJsonWith(send, "POST", path, { ...body, pow: { seed: pow.seed, nonce: solvePuzzle(pow.seed, pow.bits) } }), bits: pow.bits };
}

async function challengeSolving(send: Send, username: string): Promise<{ challenge: ChallengeBody; bits: number }> {
  const nonce = clientNonce();
  const { response, bits } = await solving(send, "/challenge", { username, clientNonce: nonce });
  expect(response.status, await response.clone().text()).toBe(200);
  return { challenge: { ...((await response.json()) as Omit<ChallengeBody, "clientNonce">), clientNonce: nonce }, bits };
}

async function login(send: Send, username: string, password: string) {
  const { challenge, bits } = await challengeSolving(send, username);
  const response = await sendJsonWith(send, "POST", "/login", { username, challengeId: challenge.challengeId, response: await answerTo(username, password, challenge) });
  return { status: response.status, bits };
}

/** A 429 pow_required: `{ error, message, pow: { seed, bits } }` and nothing else. */
async function puzzleAsked(response: Response): Promise<Puzzle> {
  const text = await response.text();
  expect(response.status, text).toBe(429);
  const body = JSON.parse(text) as { error: string; message: string; pow: Puzzle };
  expect(body).toEqual({ error: "pow_required", message: expect.stringMatching(/puzzle/), pow: { seed: expect.stringMatching(/^[0-9a-f]{64}$/), bits: expect.any(Number) } });
  return body.pow;
}

// Storage is shared by the tests of a file: every test starts with empty counters.
beforeEach(async () => {
  await env.DB.batch([env.DB.prepare("DELETE FROM pressure"), env.DB.prepare("DELETE FROM spent_puzzles"), env.DB.prepare("DELETE FROM challenges")]);
});

const count = (table: string, where = "1") => env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`).first<number>("n");

describe("guessing without lockout", () => {
  it("asks for a puzzle once a username has 3 failures, 2 bits more a failure up to the maximum, and the owner still logs in", async () => {
    const send = withLimits({});
    await registerScram("target", "right");
    const paid: number[] = [];
    for (let i = 0; i < 10; i++) {
      const attempt = await login(send, "target", `wrong ${i}`);
      expect(attempt.status).toBe(401);
      paid.push(attempt.bits);
    }
    expect(paid).toEqual([0, 0, 0, 4, 6, 8, 10, 10, 10, 10]);
    // No lockout: the right password, with the puzzle solved, logs in.
    expect(await login(send, "target", "right")).toEqual({ status: 200, bits: 10 });
  });

  it("never answers a challenge under pressure without a puzzle, and stores nothing for the refusal", async () => {
    const send = withLimits({ freeFailures: 0 });
    await registerSeed("priced", "pw");
    expect((await login(send, "priced", "wrong")).status).toBe(401);
    const before = await dbSnapshot();
    const pow = await puzzleAsked(await sendJsonWith(send, "POST", "/challenge", { username: "priced" }));
    expect(pow.bits).toBe(6);
    expect(await dbSnapshot()).toEqual(before);
  });

  it("prices an unknown username exactly as a known one", async () => {
    const send = withLimits({});
    await registerScram("known-name", "pw");
    const known: number[] = [];
    const ghost: number[] = [];
    for (let i = 0; i < 6; i++) {
      known.push((await login(send, "known-name", "wrong")).bits);
      ghost.push((await login(send, "ghost-name", "wrong")).bits);
    }
    expect(ghost).toEqual(known);
    expect(known.at(-1)).toBeGreaterThan(0);
  });

  it("refuses a missing, foreign, weak, stale or replayed solution, and spends a good one once", async () => {
    const send = withLimits({ freeFailures: 0 });
    await registerSeed("solver", "pw");
    await login(send, "solver", "wrong");
    const ask = (pow?: unknown, username = "solver") => sendJsonWith(send, "POST", "/challenge", { username, clientNonce: clientNonce(), ...(pow ? { pow } : {}) });
    const { seed, bits } = await puzzleAsked(await ask());
    const good = { seed, nonce: solvePuzzle(seed, bits) };

    // Another username's seed, the registration puzzle's seed, a seed two epochs old.
    await login(send, "other", "x");
    const foreign = await puzzleAsked(await ask(undefined, "other"));
    await puzzleAsked(await ask({ seed: foreign.seed, nonce: solvePuzzle(foreign.seed, bits) }));
    const key = await serverKey(env.AUTH_HPKE_KEY);
    const registerSeedHex = await puzzleSeed(key.puzzleKey, "register", "solver", Math.floor(Date.now() / PUZZLE_EPOCH_MS));
    await puzzleAsked(await ask({ seed: registerSeedHex, nonce: solvePuzzle(registerSeedHex, bits) }));
    const stale = await puzzleSeed(key.puzzleKey, "challenge", "solver", Math.floor(Date.now() / PUZZLE_EPOCH_MS) - 2);
    await puzzleAsked(await ask({ seed: stale, nonce: solvePuzzle(stale, bits) }));
    // A nonce whose digest has fewer zero bits than asked.
    let weak = 0n;
    while (leadingZeroBits(await puzzleDigest(fromHex(seed), fromHex(weak.toString(16).padStart(16, "0")))) >= bits) weak++;
    await puzzleAsked(await ask({ seed, nonce: weak.toString(16).padStart(16, "0") }));
    // The good one buys one challenge; sent again, it buys nothing.
    const spent = (await count("spent_puzzles"))!;
    expect((await ask(good)).status).toBe(200);
    await puzzleAsked(await ask(good));
    expect(await count("spent_puzzles")).toBe(spent + 1);
  });

  it("forgets failures as they leak, one every failureLeakMs", async () => {
    const send = withLimits({ freeFailures: 1 });
    await registerSeed("forgiven", "pw");
    for (let i = 0; i < 3; i++) await login(send, "forgiven", "wrong");
    expect((await login(send, "forgiven", "pw")).bits).toBe(8);
    // Age the counter by three leak periods: three failures forgotten, none left above the allowance.
    await env.DB.prepare("UPDATE pressure SET updated_at = updated_at - ?, drained_at = drained_at - ? WHERE key LIKE 'failures:%'").bind(3 * DEFAULT_LIMITS.failureLeakMs, 3 * DEFAULT_LIMITS.failureLeakMs).run();
    expect((await login(send, "forgiven", "pw")).bits).toBe(0);
  });
});

describe("caps on /challenge", () => {
  it("prices a flood of challenges for one username and keeps only its 4 newest", async () => {
    const send = withLimits({ freeUserChallenges: 2 });
    await registerSeed("flooded", "pw");
    const issued: { challenge: ChallengeBody; bits: number }[] = [];
    for (let i = 0; i < 6; i++) issued.push(await challengeSolving(send, "flooded"));
    expect(issued.map((i) => i.bits)).toEqual([0, 0, 4, 6, 8, 10]);
    expect(await count("challenges", "username = 'flooded'")).toBe(4);
    const answer = async (c: ChallengeBody) =>
      (await sendJsonWith(send, "POST", "/login", { username: "flooded", challengeId: c.challengeId, response: await answerTo("flooded", "pw", c) })).status;
    expect(await answer(issued[0]!.challenge)).toBe(401); // evicted
    expect(await answer(issued[5]!.challenge)).toBe(200);
  });

  it("answers 503 busy with Retry-After past the server-wide cap, so the table stays bounded", async () => {
    const send = withLimits({ freeChallenges: 3, challengeCap: 5, challengeLeakMs: 600_000 });
    const bits: number[] = [];
    for (let i = 0; i < 5; i++) bits.push((await challengeSolving(send, `caller-${i}`)).bits);
    expect(bits).toEqual([0, 0, 0, 4, 4]);
    const refused = await sendJsonWith(send, "POST", "/challenge", { username: "one-too-many", clientNonce: clientNonce() });
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
    await expectError(refused, 503, "busy");
    expect(await count("challenges")).toBe(5);
  });

  it("never keeps more than maxPressureRows counters; a username it cannot count gets the largest puzzle", async () => {
    const send = withLimits({ maxPressureRows: 4 });
    const bits: number[] = [];
    for (let i = 0; i < 6; i++) bits.push((await challengeSolving(send, `crowd-${i}`)).bits);
    // Rows: the server's counter and one per username, until the table is full.
    expect(bits).toEqual([0, 0, 0, 10, 10, 10]);
    expect(await count("pressure")).toBe(4);
  });
});

describe("caps on /register", () => {
  it("prices every registration alike, taken name or not: enumeration pays the same puzzle", async () => {
    const send = withLimits({ freeRegistrations: 0, registrationLeakMs: 600_000 });
    const register = (username: string) => solving(send, "/register", { username, mechanism: "sha256", hash: "ab".repeat(32) });
    expect((await register("taken-name")).response.status).toBe(201);
    const asked = async (username: string) => (await puzzleAsked(await sendJsonWith(send, "POST", "/register", { username, mechanism: "sha256", hash: "cd".repeat(32) }))).bits;
    expect(await asked("taken-name")).toBe(await asked("free-name"));
    const taken = await register("taken-name");
    const free = await register("free-name");
    expect(taken.bits).toBe(free.bits);
    await expectError(taken.response, 409, "user_exists");
    expect(free.response.status).toBe(201);
  });

  it("prices repeated tries at one name, and answers 503 busy past the server-wide cap", async () => {
    const send = withLimits({ freeUserRegistrations: 1, freeRegistrations: 100, registrationCap: 4, registrationLeakMs: 600_000 });
    const body = (username: string) => ({ username, mechanism: "sha256", hash: "ab".repeat(32) });
    expect((await solving(send, "/register", body("once"))).bits).toBe(0);
    const again = await solving(send, "/register", body("once"));
    expect(again.bits).toBe(4);
    await expectError(again.response, 409, "user_exists");
    for (const name of ["r2", "r3"]) expect((await solving(send, "/register", body(name))).response.status).toBe(201);
    const before = await dbSnapshot();
    await expectError(await sendJsonWith(send, "POST", "/register", body("r5")), 503, "busy");
    expect(await dbSnapshot()).toEqual(before);
  });

  it("keeps the seed's curl registration free when the server is quiet", async () => {
    expect((await sendJsonWith(call, "POST", "/register", { username: "quiet", mechanism: "sha256", hash: await shaHex("sha256", "pw") })).status).toBe(201);
  });
});

describe("the owner's cost at the defaults", () => {
  it("is one puzzle of at most 20 bits (2^20 expected hashes) whatever the counters say", async () => {
    const limits = (parseConfig({}) as { ok: true; config: { limits: typeof DEFAULT_LIMITS } }).config.limits;
    expect(limits).toEqual(DEFAULT_LIMITS);
    expect(limits.powMaxBits).toBe(MAX_PUZZLE_BITS);
    for (const n of [0, 1, 3, 7, 64, 10_000, 1e9, Number.POSITIVE_INFINITY]) {
      for (const free of [0, 3, 300]) {
        expect(expectedPuzzleWork(stepBits(n, free, limits))).toBeLessThanOrEqual(2 ** 20);
        expect(expectedPuzzleWork(loadBits(n, free, limits))).toBeLessThanOrEqual(2 ** 20);
      }
    }
    // Through the real handler with the default limits: a username under sustained attack (its
    // failure counter at the top) is asked for exactly the largest puzzle, not more and not a 429 lockout.
    await registerScram("besieged", "pw");
    const name = toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode("besieged")))).slice(0, 32);
    await env.DB.prepare("INSERT INTO pressure (key, count, updated_at, drained_at) VALUES (?, 64, ?, ?)").bind(`failures:${name}`, Date.now(), Date.now() + 64 * 600_000).run();
    const pow = await puzzleAsked(await sendJsonWith(call, "POST", "/challenge", { username: "besieged", clientNonce: clientNonce() }));
    expect(pow.bits).toBe(20);
  });
});
