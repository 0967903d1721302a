import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type Bytes, fromUtf8, randomBytes, toHex, utf8 } from "../bytes.ts";
import { decodeBinaryRequest, encodeBinaryResponse } from "./bhttp.ts";
import { ohttpChannel } from "./channel.ts";
import { type AuthAnswer, type AuthChannel, type AuthRequest, loginAccount, logoutAccount, registerAccount, rotateAccount } from "./client.ts";
import { SCRAM_SHA_256, verifySeedResponse } from "./mechanisms.ts";
import { OHTTP_RESPONSE_TYPE, decapsulateRequest, ohttpKeyId } from "./ohttp.ts";
import { checkPuzzle } from "./puzzle.ts";
import { rotationOperation } from "./rotation.ts";
import type { Registration } from "./schemas.ts";
import { fromBase64, toBase64 } from "./base64.ts";
import { authMessage, serverSignature, verifyClientProof } from "./scram.ts";
import { generateAuthKey } from "./sealed.ts";

const sha = (algorithm: string, text: string) => createHash(algorithm).update(text).digest("hex");
const salt16 = () => toBase64(randomBytes(16));

interface Tricks {
  /** Answer /challenge with this mechanism (and a seed nonce) whatever the user has. */
  offer?: "sha256";
  iterations?: number;
  salt?: string;
  /** Answer /challenge with this recorded challenge instead of a fresh one. */
  replay?: unknown;
  forgeSignature?: boolean;
  /** Ask for a puzzle of this many bits before any challenge. */
  puzzleBits?: number;
  /** Evict this many challenges before their proof comes (as a flood of challenges for the name does). */
  evict?: number;
}

/**
 * A tiny auth server made of the protocol's server-side functions, to drive the client against — and,
 * with `tricks`, an impostor that holds the key the client was given and lies in each way it can.
 * `binding` is the key it believes the client bound its proofs to.
 */
function server(binding?: Bytes) {
  const users = new Map<string, Registration>();
  const challenges = new Map<string, { username: string; clientNonce: string; nonce: string; salt?: string; iterations?: number }>();
  const seen: AuthRequest[] = [];
  const tokens = new Set<string>();
  const tricks: Tricks = {};
  const seeds = new Set<string>();
  let lastChallenge: unknown;
  const handle = async (request: AuthRequest): Promise<AuthAnswer> => {
    seen.push(request);
    const b = (request.body ?? {}) as Record<string, string> & { pow?: { seed: string; nonce: string } };
    if (request.path === "/register") {
      users.set(b.username!, b as unknown as Registration);
      return { status: 201, body: { username: b.username, mechanism: b.mechanism } };
    }
    if (request.path === "/challenge") {
      if (tricks.puzzleBits) {
        const solved = b.pow && seeds.has(b.pow.seed) && (await checkPuzzle(b.pow.seed, tricks.puzzleBits, b.pow.nonce));
        if (!solved) {
          const seed = toHex(randomBytes(32));
          seeds.add(seed);
          return { status: 429, body: { error: "pow_required", message: "solve it", pow: { seed, bits: tricks.puzzleBits } } };
        }
      }
      if (tricks.replay) return { status: 200, body: tricks.replay };
      const user = users.get(b.username!)!;
      const challengeId = toHex(randomBytes(16));
      if (tricks.offer || user.mechanism !== SCRAM_SHA_256) {
        const nonce = toHex(randomBytes(32));
        challenges.set(challengeId, { username: b.username!, clientNonce: "", nonce });
        return { status: 200, body: (lastChallenge = { challengeId, nonce, mechanism: tricks.offer ?? user.mechanism }) };
      }
      const nonce = b.clientNonce + toHex(randomBytes(32));
      const salt = tricks.salt ?? user.salt;
      const iterations = tricks.iterations ?? user.iterations;
      challenges.set(challengeId, { username: b.username!, clientNonce: b.clientNonce!, nonce, salt, iterations });
      return { status: 200, body: (lastChallenge = { challengeId, nonce, mechanism: SCRAM_SHA_256, salt, iterations }) };
    }
    if (request.path === "/logout") return tokens.delete(request.token!) ? { status: 200, body: { revoked: true } } : { status: 401, body: { error: "invalid_token", message: "no" } };
    if (tricks.evict && tricks.evict-- > 0) challenges.delete(b.challengeId!);
    const challenge = challenges.get(b.challengeId!);
    if (!challenge) return { status: 401, body: { error: "challenge_expired", message: "gone" } };
    challenges.delete(b.challengeId!);
    const user = users.get(challenge.username)!;
    // A rotation's proof is bound to the new verifier the body carries.
    const { challengeId: _c, response: _r, ...registration } = b;
    const operation = request.path === "/rotate" ? await rotationOperation(registration as unknown as Registration) : undefined;
    let signature: string | undefined;
    if (user.mechanism !== SCRAM_SHA_256) {
      if (!(await verifySeedResponse(user.mechanism, user.hash, challenge.nonce, b.response!, operation))) return { status: 401, body: { error: "invalid_credentials", message: "no" } };
    } else {
      const message = authMessage({ username: user.username, clientNonce: challenge.clientNonce, nonce: challenge.nonce, salt: user.salt, iterations: user.iterations, channelBinding: binding, operation });
      if (!(await verifyClientProof(fromBase64(user.storedKey), message, fromBase64(b.response!)))) return { status: 401, body: { error: "invalid_credentials", message: "no" } };
      signature = toBase64(await serverSignature(tricks.forgeSignature ? new Uint8Array(32) : fromBase64(user.serverKey), message));
    }
    if (request.path === "/rotate") {
      if (!tokens.has(request.token!)) return { status: 401, body: { error: "invalid_token", message: "no" } };
      users.set(user.username, registration as unknown as Registration);
      return { status: 200, body: { username: user.username, mechanism: registration.mechanism, ...(signature ? { serverSignature: signature } : {}) } };
    }
    const token = toHex(randomBytes(16)).padEnd(43, "t");
    tokens.add(token);
    return { status: 200, body: { token, expiresAt: 1, ...(signature ? { serverSignature: signature } : {}) } };
  };
  const channel = (clientBinding = binding): AuthChannel => ({ send: handle, binding: clientBinding });
  return { handle, channel, users, seen, tricks, lastChallenge: () => lastChallenge };
}

const alice = { username: "alice", password: "correct horse" };

describe("the auth client", () => {
  it("registers with SCRAM (100,000 iterations) and logs in with a client nonce, checking the server's signature", async () => {
    const { channel, users, seen } = server();
    expect(await registerAccount(channel(), alice)).toEqual({ status: 201, body: { username: "alice", mechanism: "scram-sha-256" } });
    expect(users.get("alice")).toMatchObject({ mechanism: "scram-sha-256", iterations: 100_000 });
    expect(JSON.stringify(seen)).not.toContain("correct horse");
    const login = await loginAccount(channel(), alice);
    expect(login).toMatchObject({ status: 200, body: { token: expect.any(String), expiresAt: 1 } });
    const challengeRequest = seen.find((r) => r.path === "/challenge")!.body as { clientNonce: string };
    expect(challengeRequest.clientNonce).toMatch(/^[0-9a-f]{48}$/);
    expect((await loginAccount(channel(), { ...alice, password: "wrong" })).status).toBe(401);
  });

  it("answers a seed challenge with hex(H(hex(H(password)) ‖ nonce)) when the seed mechanism is asked for", async () => {
    const s = server();
    await registerAccount(s.channel(), { username: "bob", password: "pw" }, "sha512");
    expect((await loginAccount(s.channel(), { username: "bob", password: "pw" }, { mechanism: "sha512" })).status).toBe(200);
    const { nonce } = s.lastChallenge() as { nonce: string };
    const login = s.seen.find((r) => r.path === "/login")!.body as { response: string };
    // Computed independently, with Node's crypto, exactly as the seed report's formula says.
    expect(login.response).toBe(sha("sha512", sha("sha512", "pw") + nonce));
  });

  it("refuses a sha256 challenge for a SCRAM login before computing or sending anything", async () => {
    const s = server();
    await registerAccount(s.channel(), alice);
    s.tricks.offer = "sha256";
    const before = s.seen.length;
    await expect(loginAccount(s.channel(), alice)).rejects.toMatchObject({ code: "mechanism_mismatch" });
    // Only the challenge request went out: no /login, so no fast hash of the password to crack.
    expect(s.seen.slice(before).map((r) => r.path)).toEqual(["/challenge"]);
  });

  it("refuses a seed login by default: a user of the seed's scheme must ask for it", async () => {
    const s = server();
    await registerAccount(s.channel(), { username: "dan", password: "pw" }, "sha256");
    await expect(loginAccount(s.channel(), { username: "dan", password: "pw" })).rejects.toMatchObject({ code: "mechanism_mismatch" });
    expect((await loginAccount(s.channel(), { username: "dan", password: "pw" }, { mechanism: "sha256" })).status).toBe(200);
  });

  it("refuses fewer iterations than the minimum (100,000 by default, or the one configured)", async () => {
    const s = server();
    await registerAccount(s.channel(), alice);
    s.tricks.iterations = 4096;
    const before = s.seen.length;
    await expect(loginAccount(s.channel(), alice)).rejects.toMatchObject({ code: "weak_iterations" });
    s.tricks.iterations = 99_999;
    await expect(loginAccount(s.channel(), alice)).rejects.toMatchObject({ code: "weak_iterations" });
    expect(s.seen.slice(before).every((r) => r.path === "/challenge")).toBe(true);
    // A user who registered with 4096 elsewhere can lower the minimum explicitly (never below 4096).
    s.tricks.iterations = undefined;
    s.users.set("low", { username: "low", mechanism: "scram-sha-256", salt: salt16(), iterations: 4096, storedKey: "", serverKey: "" } as Registration);
    s.tricks.iterations = 4095;
    await expect(loginAccount(s.channel(), { username: "low", password: "x" }, { minIterations: 1 })).rejects.toMatchObject({ code: "weak_iterations" });
  });

  it("refuses a replayed challenge: its nonce does not extend this login's client nonce", async () => {
    const s = server();
    await registerAccount(s.channel(), alice);
    await loginAccount(s.channel(), alice);
    s.tricks.replay = s.lastChallenge();
    const before = s.seen.length;
    await expect(loginAccount(s.channel(), alice)).rejects.toMatchObject({ code: "nonce_mismatch" });
    expect(s.seen.slice(before).map((r) => r.path)).toEqual(["/challenge"]);
  });

  it("refuses an answer whose SCRAM server signature does not verify", async () => {
    const s = server();
    await registerAccount(s.channel(), alice);
    s.tricks.forgeSignature = true;
    await expect(loginAccount(s.channel(), alice)).rejects.toMatchObject({ code: "server_not_authenticated" });
  });

  it("binds SCRAM to the channel's server key: a proof relayed from an impostor's channel fails at the real server", async () => {
    const realKey = randomBytes(32);
    const impostorKey = randomBytes(32);
    const real = server(realKey);
    await registerAccount(real.channel(), alice);
    // The victim talks to the impostor's key; the impostor relays every message to the real server.
    const relayed = await loginAccount(real.channel(impostorKey), alice);
    expect(relayed).toMatchObject({ status: 401, body: { error: "invalid_credentials" } });
    expect((await loginAccount(real.channel(realKey), alice)).status).toBe(200);
  });

  it("solves the server's puzzle and sends the solution, and refuses one above MAX_PUZZLE_BITS", async () => {
    const s = server();
    await registerAccount(s.channel(), alice);
    s.tricks.puzzleBits = 10;
    expect((await loginAccount(s.channel(), alice)).status).toBe(200);
    const challenges = s.seen.filter((r) => r.path === "/challenge").slice(-2).map((r) => r.body as { pow?: unknown; clientNonce: string });
    expect(challenges[0]!.pow).toBeUndefined();
    expect(challenges[1]!.pow).toMatchObject({ seed: expect.stringMatching(/^[0-9a-f]{64}$/), nonce: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(challenges[1]!.clientNonce).toBe(challenges[0]!.clientNonce);
    s.tricks.puzzleBits = 21;
    await expect(loginAccount(s.channel(), alice)).rejects.toMatchObject({ code: "puzzle_too_hard" });
  });

  it("refuses to register a password with a lone surrogate, which UTF-8 would turn into another password", async () => {
    const s = server();
    await expect(registerAccount(s.channel(), { username: "alice", password: "\ud800secret" })).rejects.toMatchObject({ code: "invalid_password" });
    expect(s.seen).toEqual([]);
    expect((await registerAccount(s.channel(), { username: "alice", password: "\ud83e\uddc5 secret" })).status).toBe(201);
  });

  it("asks for another challenge when one was evicted before its proof came, up to three in all", async () => {
    const s = server();
    await registerAccount(s.channel(), alice);
    s.tricks.evict = 2;
    expect((await loginAccount(s.channel(), alice)).status).toBe(200);
    expect(s.seen.filter((r) => r.path === "/challenge")).toHaveLength(3);
    s.tricks.evict = 3;
    expect(await loginAccount(s.channel(), alice)).toMatchObject({ status: 401, body: { error: "challenge_expired" } });
    // A wrong password is a verdict: asked once, not again.
    const before = s.seen.length;
    expect((await loginAccount(s.channel(), { ...alice, password: "wrong" })).status).toBe(401);
    expect(s.seen.slice(before).filter((r) => r.path === "/challenge")).toHaveLength(1);
  });

  it("rotates only with a fresh proof of the current password, and logs out", async () => {
    const s = server();
    await registerAccount(s.channel(), alice);
    const { token } = (await loginAccount(s.channel(), alice)).body as { token: string };
    expect(await rotateAccount(s.channel(), alice, { password: "new horse" }, token)).toEqual({ status: 200, body: { username: "alice", mechanism: "scram-sha-256" } });
    const rotate = s.seen.find((r) => r.path === "/rotate")!;
    expect(rotate.token).toBe(token);
    expect(rotate.body).toMatchObject({ challengeId: expect.any(String), response: expect.any(String), username: "alice", mechanism: "scram-sha-256" });
    expect((await loginAccount(s.channel(), { ...alice, password: "new horse" })).status).toBe(200);
    expect(await logoutAccount(s.channel(), token)).toEqual({ status: 200, body: { revoked: true } });
    expect((await logoutAccount(s.channel(), token)).status).toBe(401);
  });
});

describe("the Oblivious HTTP channel", () => {
  /** The tiny server behind a gateway that decapsulates, as the auth worker's POST /ohttp does. */
  async function gateway() {
    const key = await generateAuthKey();
    const keyId = await ohttpKeyId(key.publicKey);
    const inner = server(key.publicKey);
    const wire: Bytes[] = [];
    const post = async (body: Bytes) => {
      wire.push(body);
      const opened = await decapsulateRequest({ keyId, privateKey: key.privateKey }, body);
      const request = decodeBinaryRequest(opened.request);
      const token = request.headers.find(([name]) => name === "authorization")?.[1]?.replace(/^Bearer /, "");
      const answer = await inner.handle({
        method: request.method as "POST",
        path: request.path,
        ...(request.content.length ? { body: JSON.parse(fromUtf8(request.content)) } : {}),
        ...(token ? { token } : {}),
      });
      const response = encodeBinaryResponse({ status: answer.status, headers: [["content-type", "application/json"]], content: utf8(JSON.stringify(answer.body)) }, 1024);
      return { status: 200, contentType: OHTTP_RESPONSE_TYPE, body: await opened.sealResponse(response) };
    };
    return { key, inner, wire, post };
  }

  it("carries the flows end to end: every request on the wire has the same length and holds neither the name nor the token", async () => {
    const g = await gateway();
    const channel = await ohttpChannel({ url: "http://auth.test", publicKey: g.key.publicKey }, g.post);
    expect(channel.binding).toEqual(g.key.publicKey);
    const username = "a-rather-long-username-that-would-show-in-lengths";
    expect((await registerAccount(channel, { username, password: "pw" })).status).toBe(201);
    const login = await loginAccount(channel, { username, password: "pw" });
    expect(login.status).toBe(200);
    const { token } = login.body as { token: string };
    expect((await logoutAccount(channel, token)).status).toBe(200);
    const lengths = new Set(g.wire.map((body) => body.length));
    expect(lengths).toEqual(new Set([7 + 32 + 1024 + 16]));
    const all = Buffer.concat(g.wire).toString("latin1");
    expect(all).not.toContain(username);
    expect(all).not.toContain(token);
  });

  it("refuses a pinned key nothing can be encrypted to (the all-zero point) before sending anything", async () => {
    let posted = 0;
    const channel = await ohttpChannel({ url: "http://auth.test", publicKey: new Uint8Array(32) }, async () => {
      posted++;
      return { status: 500, contentType: null, body: new Uint8Array(0) };
    });
    await expect(loginAccount(channel, alice)).rejects.toMatchObject({ code: "bad_server_key" });
    expect(posted).toBe(0);
  });

  it("refuses an answer that is not encapsulated, or that was encapsulated for another request", async () => {
    const g = await gateway();
    await registerAccount(await ohttpChannel({ url: "http://auth.test", publicKey: g.key.publicKey }, g.post), alice);
    const plain = await ohttpChannel({ url: "http://auth.test", publicKey: g.key.publicKey }, async () => ({
      status: 200,
      contentType: "application/json",
      body: utf8(JSON.stringify({ challengeId: "0".repeat(32), nonce: "0".repeat(64), mechanism: "sha256" })),
    }));
    await expect(loginAccount(plain, alice, { mechanism: "sha256" })).rejects.toMatchObject({ code: "not_encapsulated" });
    let recorded: { status: number; contentType: string | null; body: Bytes } | undefined;
    const replaying = await ohttpChannel({ url: "http://auth.test", publicKey: g.key.publicKey }, async (body) => {
      if (!recorded) return (recorded = await g.post(body));
      return recorded;
    });
    await expect(loginAccount(replaying, alice)).rejects.toMatchObject({ code: "bad_encapsulated_answer" });
  });
});
