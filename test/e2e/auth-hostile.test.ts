// A hostile exit and an impostor auth server, reached through real circuits of the e2e mesh, try
// each attack of issue 8 on the gateway (/auth/*) and on the CLI (onion login/register). Each is
// refused or fails, and nothing they record can be used offline: no username, password, hash,
// proof or token in what crosses the exit.

import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { fromBase64Url, loginAccount, ohttpChannel, solvePuzzle, toBase64 } from "@shallot/protocol";
import { type HostileServer, json, passThrough, startHostileExit, startImpostor } from "./hostile-auth.ts";
import { networkArgs } from "./network.ts";
import { onion } from "./onion-cli.ts";

const mesh = inject("mesh");
const network = networkArgs(mesh);
const fresh = (prefix: string) => `${prefix}-${randomBytes(5).toString("hex")}`;

const gateway = async (path: string, body: unknown) => {
  const response = await fetch(`${mesh.urls.relay}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

/** Every form in which a login's secrets could show up in what the attacker recorded. */
function expectNothingUsable(view: string, secrets: { username: string; password: string; tokens?: string[] }) {
  const forms = [secrets.username, Buffer.from(secrets.username).toString("hex"), Buffer.from(secrets.username).toString("base64").replace(/=+$/, ""), secrets.password, ...(secrets.tokens ?? [])];
  for (const algorithm of ["sha256", "sha384", "sha512"]) forms.push(createHash(algorithm).update(secrets.password).digest("hex"));
  for (const form of forms) expect(view, `the attacker saw ${form}`).not.toContain(form);
}

let exit: HostileServer;
const victim = { username: fresh("victim"), password: `pw-${randomBytes(6).toString("hex")}` };
const viaExit = () => ({ server: exit.url, serverKey: mesh.authKey });
const cliViaExit = () => ["--server", exit.url, "--server-key", mesh.authKey];

beforeAll(async () => {
  exit = await startHostileExit(mesh.urls.auth);
  expect((await gateway("/auth/register", victim)).status).toBe(201);
});
afterAll(async () => {
  await exit?.close();
});

/** Runs one login through the hostile exit from the gateway and from the CLI; both must fail as `code`. */
async function bothRefuse(code: string) {
  const before = exit.seen.length;
  const viaGateway = await gateway("/auth/login", { ...victim, ...viaExit() });
  expect(viaGateway.status, JSON.stringify(viaGateway.body)).toBe(502);
  expect(viaGateway.body).toMatchObject({ error: code });
  const viaCli = await onion(["login", ...network, ...cliViaExit(), "--password-stdin", victim.username], victim.password);
  expect(viaCli.code).toBe(1);
  expect(viaCli.stdout).toBe("");
  expect(viaCli.stderr).toMatch(/^onion: [^\n]+\n$/);
  // Each client sent its first request and stopped there: no proof ever left.
  expect(exit.seen.length - before).toBe(2);
  expect(exit.seen.slice(before).every((s) => s.method === "POST" && s.path === "/ohttp")).toBe(true);
  return viaCli.stderr;
}

describe("a hostile exit between the circuit and the pinned auth server", () => {
  it("substitutes its own key: the clients never ask for one, and it cannot open what they encrypt to the pinned key", async () => {
    const impostor = await startImpostor(async () => ({ status: 500, body: {} }));
    let opened = 0;
    exit.behave(async (seen) => {
      if (seen.method === "GET") return json(200, { kem: "X25519", kdf: "HKDF-SHA256", aead: "AES-128-GCM", publicKey: "attacker's own key" });
      // Try the attacker's key on what arrived, then answer with its own "encapsulated" bytes.
      const tried = await fetch(impostor.url, { method: "POST", body: seen.body });
      if (tried.status === 200) opened++;
      return { status: 200, contentType: "message/ohttp-res", body: randomBytes(1056) };
    });
    const stderr = await bothRefuse("bad_encapsulated_answer");
    expect(stderr).toMatch(/was refused: The encapsulated response does not open/);
    const register = await gateway("/auth/register", { username: fresh("newcomer"), password: "pw", ...viaExit() });
    expect(register.status).toBe(502);
    expect(opened).toBe(0);
    expect(impostor.unopened()).toBe(3);
    expect(exit.seen.filter((s) => s.method === "GET")).toEqual([]);
    expectNothingUsable(exit.view(), victim);
    await impostor.close();
  });

  it("offers a SCRAM user a sha256 challenge: refused before anything is computed", async () => {
    exit.behave(async () => json(200, { challengeId: "0".repeat(32), nonce: "1".repeat(64), mechanism: "sha256" }));
    await bothRefuse("not_encapsulated");
    // Dressed as an encapsulated answer, it does not open either.
    exit.behave(async () => ({ ...json(200, { challengeId: "0".repeat(32), nonce: "1".repeat(64), mechanism: "sha256" }), contentType: "message/ohttp-res" }));
    await bothRefuse("bad_encapsulated_answer");
    expectNothingUsable(exit.view(), victim);
  });

  it("lowers the iterations or fixes the salt: the altered challenge does not open", async () => {
    for (const change of [{ iterations: 4096 }, { salt: toBase64(new Uint8Array(16)) }]) {
      exit.behave(async (_seen, forward) => {
        // Whatever it does to the real answer (here: splice the weak parameter into its bytes) breaks the AEAD.
        const real = await forward();
        const spliced = Buffer.concat([real.body.subarray(0, 40), Buffer.from(JSON.stringify(change)), real.body.subarray(40 + JSON.stringify(change).length)]);
        return { ...real, body: spliced };
      });
      await bothRefuse("bad_encapsulated_answer");
      exit.behave(async () => json(200, { challengeId: "0".repeat(32), nonce: "ab".repeat(60), mechanism: "scram-sha-256", salt: toBase64(new Uint8Array(16)), iterations: 4096, ...change }));
      await bothRefuse("not_encapsulated");
    }
    expectNothingUsable(exit.view(), victim);
  });

  it("replays a challenge recorded from an earlier login: it opens for nobody else", async () => {
    let recorded: Awaited<ReturnType<Parameters<HostileServer["behave"]>[0]>> | undefined;
    exit.behave(async (_seen, forward) => (recorded ??= await forward()));
    expect((await gateway("/auth/login", { ...victim, ...viaExit() })).status).toBe(502);
    expect(recorded!.contentType).toBe("message/ohttp-res");
    await bothRefuse("bad_encapsulated_answer");
  });

  it("sees neither the username nor the token of a login through the proxy, only one route and one length", async () => {
    exit.behave(passThrough);
    const before = exit.seen.length;
    const viaGateway = await gateway("/auth/login", { ...victim, ...viaExit() });
    expect(viaGateway.status).toBe(200);
    const viaCli = await onion(["login", ...network, ...cliViaExit(), "--password-stdin", victim.username], victim.password);
    expect(viaCli.code, viaCli.stderr).toBe(0);
    const tokens = [viaGateway.body.token as string, viaCli.stdout.trim()];
    for (const token of tokens) expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const seen = exit.seen.slice(before);
    expect(seen.length).toBe(4);
    expect(new Set(seen.map((s) => `${s.method} ${s.path} ${s.headers["content-type"]} ${s.body.length}`))).toEqual(new Set(["POST /ohttp message/ohttp-req 1079"]));
    expectNothingUsable(exit.view(), { ...victim, tokens });
  });
});

describe("an impostor auth server reached through a real circuit", () => {
  it("named without a key, it is never contacted; reached with the pinned key, it gets only what it cannot open", async () => {
    const impostor = await startImpostor(async () => ({ status: 200, body: { challengeId: "0".repeat(32), nonce: "1".repeat(64), mechanism: "sha256" } }));
    const unpinned = await gateway("/auth/login", { ...victim, server: impostor.url });
    expect(unpinned.status).toBe(400);
    expect(unpinned.body).toMatchObject({ error: "server_key_required" });
    const cli = await onion(["login", ...network, "--server", impostor.url, "--password-stdin", victim.username], victim.password);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/pass --server-key KEY/);
    expect(impostor.seen).toEqual([]);

    const pinned = await gateway("/auth/login", { ...victim, server: impostor.url, serverKey: mesh.authKey });
    expect(pinned.status).toBe(502);
    expect(pinned.body).toMatchObject({ error: "not_encapsulated" });
    expect(impostor.unopened()).toBe(1);
    expect(impostor.opened).toEqual([]);
    await impostor.close();
  });

  it("trusted by mistake with its own key: no downgrade, no weak iterations, no replayed challenge, and no proof it can relay", async () => {
    let mode: "sha256" | "weak" | "replay" | "relay-ohttp" | "relay-plain" = "sha256";
    const relayed: number[] = [];
    // A user of its own: the real server prices a burst of challenges for one name.
    const victim = { username: fresh("trusting"), password: `pw-${randomBytes(6).toString("hex")}` };
    expect((await gateway("/auth/register", victim)).status).toBe(201);
    const real = await ohttpChannel({ url: mesh.urls.auth, publicKey: fromBase64Url(mesh.authKey) }, async (body) => {
      const response = await fetch(`${mesh.urls.auth}/ohttp`, { method: "POST", headers: { "content-type": "message/ohttp-req" }, body });
      return { status: response.status, contentType: response.headers.get("content-type"), body: new Uint8Array(await response.arrayBuffer()) };
    });
    const realChallenge = async (clientNonce: string) => (await real.send({ method: "POST", path: "/challenge", body: { username: victim.username, clientNonce } })).body as Record<string, unknown>;
    const impostor = await startImpostor(async (path, body) => {
      const request = body as { username: string; clientNonce: string };
      if (mode === "sha256") return { status: 200, body: { challengeId: "0".repeat(32), nonce: "1".repeat(64), mechanism: "sha256" } };
      if (path === "/challenge") {
        if (mode === "replay") return { status: 200, body: await realChallenge(randomBytes(16).toString("hex")) };
        const challenge = await realChallenge(request.clientNonce);
        return { status: 200, body: mode === "weak" ? { ...challenge, iterations: 4096 } : challenge };
      }
      // A relay: the victim's proof handed to the real server, over Oblivious HTTP or as plain JSON.
      if (mode === "relay-ohttp") {
        const answer = await real.send({ method: "POST", path, body });
        relayed.push(answer.status);
        return answer;
      }
      const plain = await fetch(`${mesh.urls.auth}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      relayed.push(plain.status);
      return { status: plain.status, body: await plain.json() };
    });
    const trusted = { ...victim, server: impostor.url, serverKey: Buffer.from(impostor.key.publicKey).toString("base64url") };
    const cliTrusted = ["--server", impostor.url, "--server-key", trusted.serverKey];
    const expected = { sha256: "mechanism_mismatch", weak: "weak_iterations", replay: "nonce_mismatch" } as const;
    for (const attack of ["sha256", "weak", "replay"] as const) {
      mode = attack;
      const before = impostor.opened.length;
      const viaGateway = await gateway("/auth/login", trusted);
      expect(viaGateway.status).toBe(502);
      expect(viaGateway.body).toMatchObject({ error: expected[attack] });
      const viaCli = await onion(["login", ...network, ...cliTrusted, "--password-stdin", victim.username], victim.password);
      expect(viaCli.code).toBe(1);
      expect(viaCli.stderr).toMatch(/^onion: The (server asked for|challenge asks for|challenge's nonce)/);
      // Refused at the challenge: no /login, so no response or proof to attack offline.
      expect(impostor.opened.slice(before).map((o) => o.path)).toEqual(["/challenge", "/challenge"]);
    }
    // The proof is bound to the key the victim encrypted to: the real server refuses it, by either road.
    for (const relay of ["relay-ohttp", "relay-plain"] as const) {
      mode = relay;
      const relayedLogin = await gateway("/auth/login", trusted);
      expect(relayedLogin.status).toBe(401);
    }
    expect(relayed).toEqual([401, 401]);
    await impostor.close();
  });
});

describe("a stolen token", () => {
  it("cannot take the account: /rotate needs a fresh proof of the password, and the owner still logs in", async () => {
    const owner = { username: fresh("owner"), password: "owner's password" };
    expect((await gateway("/auth/register", owner)).status).toBe(201);
    const { token } = (await gateway("/auth/login", owner)).body as { token: string };
    const rotate = (body: unknown) =>
      fetch(`${mesh.urls.auth}/rotate`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
    const takeover = { username: owner.username, mechanism: "sha256", hash: createHash("sha256").update("thief's password").digest("hex") };
    expect((await rotate(takeover)).status).toBe(400);
    // With a proof made from a guessed password: a wrong login.
    const channel = await ohttpChannel({ url: mesh.urls.auth, publicKey: fromBase64Url(mesh.authKey) }, async (body) => {
      const response = await fetch(`${mesh.urls.auth}/ohttp`, { method: "POST", headers: { "content-type": "message/ohttp-req" }, body });
      return { status: response.status, contentType: response.headers.get("content-type"), body: new Uint8Array(await response.arrayBuffer()) };
    });
    const guessed = await channel.send({ method: "POST", path: "/challenge", body: { username: owner.username, clientNonce: randomBytes(16).toString("hex") } });
    const forged = await channel.send({ method: "POST", path: "/rotate", token, body: { ...takeover, challengeId: (guessed.body as { challengeId: string }).challengeId, response: toBase64(new Uint8Array(32)) } });
    expect(forged).toMatchObject({ status: 401, body: { error: "invalid_credentials" } });
    // The owner's password and token still work, from the gateway and the CLI.
    expect((await gateway("/auth/login", owner)).status).toBe(200);
    const cli = await onion(["login", ...network, "--server", mesh.urls.auth, "--server-key", mesh.authKey, "--password-stdin", owner.username], owner.password);
    expect(cli.code, cli.stderr).toBe(0);
    expect((await fetch(`${mesh.urls.auth}/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await loginAccount(channel, { username: owner.username, password: "thief's password" })).status).toBe(401);
  });
});

describe("repeated wrong logins", () => {
  it("do not lock the owner out: the guesser pays rising puzzles, the owner logs in through the gateway and the CLI paying at most 20 bits", async () => {
    const owner = { username: fresh("besieged"), password: "the right one" };
    expect((await gateway("/auth/register", owner)).status).toBe(201);
    const channel = await ohttpChannel({ url: mesh.urls.auth, publicKey: fromBase64Url(mesh.authKey) }, async (body) => {
      const response = await fetch(`${mesh.urls.auth}/ohttp`, { method: "POST", headers: { "content-type": "message/ohttp-req" }, body });
      return { status: response.status, contentType: response.headers.get("content-type"), body: new Uint8Array(await response.arrayBuffer()) };
    });
    const paid: number[] = [];
    const statuses: number[] = [];
    /** One guess, as a guesser with the real client would make it, recording the puzzle it was asked for. */
    const guess = async () => {
      const clientNonce = randomBytes(16).toString("hex");
      let answer = await channel.send({ method: "POST", path: "/challenge", body: { username: owner.username, clientNonce } });
      let bits = 0;
      if (answer.status === 429) {
        const { pow } = answer.body as { pow: { seed: string; bits: number } };
        bits = pow.bits;
        answer = await channel.send({ method: "POST", path: "/challenge", body: { username: owner.username, clientNonce, pow: { seed: pow.seed, nonce: solvePuzzle(pow.seed, pow.bits) } } });
      }
      paid.push(bits);
      const { challengeId } = answer.body as { challengeId: string };
      // A wrong proof: what a guessed password gives.
      const login = await channel.send({ method: "POST", path: "/login", body: { username: owner.username, challengeId, response: toBase64(randomBytes(32)) } });
      statuses.push(login.status);
    };
    for (let i = 0; i < 7; i++) await guess();
    expect(statuses).toEqual(new Array(7).fill(401));
    expect(paid).toEqual([0, 0, 0, 12, 14, 16, 18]);
    // The next challenge for this name costs 20 bits (2^20 expected hashes), and no more, for anyone.
    const asked = await channel.send({ method: "POST", path: "/challenge", body: { username: owner.username, clientNonce: randomBytes(16).toString("hex") } });
    expect(asked).toMatchObject({ status: 429, body: { error: "pow_required", pow: { bits: 20 } } });
    // The owner is not locked out.
    expect((await gateway("/auth/login", owner)).status).toBe(200);
    const cli = await onion(["login", ...network, "--server", mesh.urls.auth, "--server-key", mesh.authKey, "--password-stdin", owner.username], owner.password);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout.trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
  }, 120_000);
});
