import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { toBase64Url, toHex } from "../bytes.ts";
import { fromBase64, toBase64 } from "./base64.ts";
import { type AuthExchange, loginAccount, registerAccount } from "./client.ts";
import { SCRAM_SHA_256, verifySeedResponse } from "./mechanisms.ts";
import type { Registration } from "./schemas.ts";
import { authMessage, serverSignature, verifyClientProof } from "./scram.ts";
import { generateAuthKey, openRegistration } from "./sealed.ts";

const sha = (algorithm: string, text: string) => createHash(algorithm).update(text).digest("hex");

/** A tiny auth server made of the server-side protocol functions, to drive the client against. */
async function server(options: { forgeSignature?: boolean } = {}) {
  const key = await generateAuthKey();
  const users = new Map<string, Registration>();
  const challenges = new Map<string, { username: string; nonce: string }>();
  const seen: unknown[] = [];
  const exchange: AuthExchange = async (method, path, body) => {
    seen.push(body);
    if (method === "GET" && path === "/key") return { status: 200, body: { kem: "X25519", kdf: "HKDF-SHA256", aead: "AES-128-GCM", keyId: key.keyId, publicKey: toBase64Url(key.publicKey) } };
    const b = body as Record<string, string>;
    if (path === "/register") {
      const opened = await openRegistration(key, (body as { sealed: never }).sealed);
      if (!opened.ok) return { status: 400, body: { error: opened.error, message: opened.message } };
      users.set(opened.registration.username, opened.registration);
      return { status: 201, body: { username: opened.registration.username, mechanism: opened.registration.mechanism } };
    }
    const user = users.get(b.username!)!;
    if (path === "/challenge") {
      const challengeId = toHex(crypto.getRandomValues(new Uint8Array(16)));
      const nonce = toHex(crypto.getRandomValues(new Uint8Array(32)));
      challenges.set(challengeId, { username: b.username!, nonce });
      const extra = user.mechanism === SCRAM_SHA_256 ? { salt: user.salt, iterations: user.iterations } : {};
      return { status: 200, body: { challengeId, nonce, mechanism: user.mechanism, ...extra } };
    }
    const { nonce } = challenges.get(b.challengeId!)!;
    if (user.mechanism !== SCRAM_SHA_256) {
      const ok = await verifySeedResponse(user.mechanism, user.hash, nonce, b.response!);
      return ok ? { status: 200, body: { token: "t".repeat(43), expiresAt: 1 } } : { status: 401, body: { error: "invalid_credentials", message: "no" } };
    }
    const message = authMessage({ username: user.username, nonce, salt: user.salt, iterations: user.iterations });
    if (!(await verifyClientProof(fromBase64(user.storedKey), message, fromBase64(b.response!)))) return { status: 401, body: { error: "invalid_credentials", message: "no" } };
    const signature = await serverSignature(options.forgeSignature ? new Uint8Array(32) : fromBase64(user.serverKey), message);
    return { status: 200, body: { token: "t".repeat(43), expiresAt: 1, serverSignature: toBase64(signature) } };
  };
  return { exchange, users, seen };
}

describe("the auth client", () => {
  it("registers with SCRAM sealed to the server's key and logs in, checking the server's signature", async () => {
    const { exchange, users, seen } = await server();
    const registered = await registerAccount(exchange, { username: "alice", password: "correct horse" });
    expect(registered).toEqual({ status: 201, body: { username: "alice", mechanism: "scram-sha-256" } });
    expect(users.get("alice")).toMatchObject({ mechanism: "scram-sha-256", iterations: 100_000 });
    // What crossed the wire holds neither the password nor any verifier in clear.
    expect(JSON.stringify(seen)).not.toContain("correct horse");
    expect(JSON.stringify(seen)).not.toContain((users.get("alice") as { storedKey: string }).storedKey);
    expect(await loginAccount(exchange, { username: "alice", password: "correct horse" })).toEqual({ status: 200, body: { token: "t".repeat(43), expiresAt: 1 } });
    expect((await loginAccount(exchange, { username: "alice", password: "wrong" })).status).toBe(401);
  });

  it("answers a seed challenge with hex(H(hex(H(password)) || nonce)), as sha512sum would", async () => {
    const { exchange } = await server();
    await registerAccount(exchange, { username: "bob", password: "pw" }, "sha512");
    const exchanges: { path: string; request: unknown; answer: unknown }[] = [];
    const recording: AuthExchange = async (method, path, body) => {
      const answer = await exchange(method, path, body);
      exchanges.push({ path, request: body, answer: answer.body });
      return answer;
    };
    expect((await loginAccount(recording, { username: "bob", password: "pw" })).status).toBe(200);
    const { nonce } = exchanges.find((e) => e.path === "/challenge")!.answer as { nonce: string };
    const { response } = exchanges.find((e) => e.path === "/login")!.request as { response: string };
    // Computed independently, with Node's crypto, exactly as the seed report's formula says.
    expect(response).toBe(sha("sha512", sha("sha512", "pw") + nonce));
  });

  it("refuses a login answer whose SCRAM server signature does not verify", async () => {
    const { exchange } = await server({ forgeSignature: true });
    await registerAccount(exchange, { username: "carol", password: "pw" });
    await expect(loginAccount(exchange, { username: "carol", password: "pw" })).rejects.toMatchObject({ code: "server_not_authenticated" });
  });

  it("refuses a challenge for another mechanism than the one expected (no downgrade from SCRAM)", async () => {
    const { exchange } = await server();
    await registerAccount(exchange, { username: "dan", password: "pw" }, "sha256");
    await expect(loginAccount(exchange, { username: "dan", password: "pw" }, "scram-sha-256")).rejects.toMatchObject({ code: "mechanism_mismatch" });
    expect((await loginAccount(exchange, { username: "dan", password: "pw" }, "sha256")).status).toBe(200);
  });
});
