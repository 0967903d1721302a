// Talking to the auth server, and a client written out with WebCrypto alone — not the server's code —
// so an accepted response proves the server follows the documented formulas.

import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import app from "../src/index.ts";

export const call = (path: string, init?: RequestInit) => exports.default.fetch(new Request(`http://auth.test${path}`, init));

/** The same Worker under other bindings (app.fetch takes the env as an argument), e.g. other AUTH_LIMITS. */
export const callWith = (overrides: Partial<Cloudflare.Env>) => async (path: string, init?: RequestInit) =>
  app.fetch(new Request(`http://auth.test${path}`, init), { ...env, ...overrides });

export const sendJsonWith = (send: typeof call, method: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  send(path, { method, headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });

export const sendJson = (method: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  call(path, { method, headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

const text = new TextEncoder();
const hex = (bytes: ArrayBuffer | Uint8Array) => [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
export const b64 = (bytes: ArrayBuffer | Uint8Array) => btoa(String.fromCharCode(...new Uint8Array(bytes)));
export const unb64 = (s: string) => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));

const WEBCRYPTO = { sha256: "SHA-256", sha384: "SHA-384", sha512: "SHA-512" } as const;
export type Seed = keyof typeof WEBCRYPTO;
export const SEEDS = Object.keys(WEBCRYPTO) as Seed[];

/** hex(H(utf8(s))), as `printf '%s' "$s" | sha256sum` prints it. */
export const shaHex = async (mechanism: Seed, s: string) => hex(await crypto.subtle.digest(WEBCRYPTO[mechanism], text.encode(s)));
/** The seed response: hex(H( hex(H(password)) ‖ nonce )). */
export const seedAnswer = async (mechanism: Seed, password: string, nonce: string, operation?: string) =>
  shaHex(mechanism, (await shaHex(mechanism, password)) + nonce + (operation === undefined ? "" : `,o=${operation}`));

/** docs/auth.md's rotation operation, written out again here: what a rotation's proof is bound to. */
export async function rotationOf(registration: Record<string, unknown>): Promise<string> {
  const r = registration as Record<string, string | number>;
  const fields = r.mechanism === "scram-sha-256" ? [r.username, r.mechanism, r.salt, r.iterations, r.storedKey, r.serverKey] : [r.username, r.mechanism, r.hash];
  return `rotate:${await shaHex("sha256", fields.join("\n"))}`;
}

async function hmac(key: Uint8Array, message: Uint8Array) {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, message));
}

/** RFC 5802 §3 key derivation with PBKDF2-HMAC-SHA-256. */
export async function scramClientKeys(password: string, salt: Uint8Array, iterations: number) {
  const material = await crypto.subtle.importKey("raw", text.encode(password), "PBKDF2", false, ["deriveBits"]);
  const salted = new Uint8Array(await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, material, 256));
  const clientKey = await hmac(salted, text.encode("Client Key"));
  const storedKey = new Uint8Array(await crypto.subtle.digest("SHA-256", clientKey));
  const serverKey = await hmac(salted, text.encode("Server Key"));
  return { clientKey, storedKey, serverKey };
}

/** The registration body for a SCRAM user. */
export async function scramRegistration(username: string, password: string, iterations = 4096, salt = crypto.getRandomValues(new Uint8Array(16))) {
  const { storedKey, serverKey } = await scramClientKeys(password, salt, iterations);
  return { username, mechanism: "scram-sha-256", salt: b64(salt), iterations, storedKey: b64(storedKey), serverKey: b64(serverKey) };
}

/** docs/auth.md's AuthMessage, written out again here; `cbind` is "biws" without channel binding. */
export const scramAuthMessage = (username: string, clientNonce: string, nonce: string, salt: string, iterations: number, cbind = "biws", operation?: string) =>
  `n=${username.replaceAll("=", "=3D").replaceAll(",", "=2C")},r=${clientNonce},r=${nonce},s=${salt},i=${iterations},c=${cbind},r=${nonce}${operation === undefined ? "" : `,o=${operation}`}`;

/** The client's side of a SCRAM login: base64 ClientProof and the ServerSignature it expects. */
export async function scramAnswer(username: string, password: string, challenge: { clientNonce: string; nonce: string; salt: string; iterations: number }, cbind = "biws", operation?: string) {
  const { clientKey, storedKey, serverKey } = await scramClientKeys(password, unb64(challenge.salt), challenge.iterations);
  const message = text.encode(scramAuthMessage(username, challenge.clientNonce, challenge.nonce, challenge.salt, challenge.iterations, cbind, operation));
  const signature = await hmac(storedKey, message);
  return { proof: b64(clientKey.map((byte, i) => byte ^ signature[i]!)), expectedServerSignature: b64(await hmac(serverKey, message)) };
}

/** A fresh client nonce (RFC 5802 client-first message), 32 lowercase hex characters. */
export const clientNonce = () => hex(crypto.getRandomValues(new Uint8Array(16)));

export interface ChallengeBody {
  challengeId: string;
  /** Not part of the answer: the client nonce this test sent. */
  clientNonce: string;
  nonce: string;
  mechanism: string;
  salt?: string;
  iterations?: number;
}

export async function registerSeed(username: string, password: string, mechanism: Seed = "sha256") {
  const response = await sendJson("POST", "/register", { username, mechanism, hash: await shaHex(mechanism, password) });
  expect(response.status, await response.clone().text()).toBe(201);
  return response.json();
}

export async function registerScram(username: string, password: string, iterations = 4096) {
  const response = await sendJson("POST", "/register", await scramRegistration(username, password, iterations));
  expect(response.status, await response.clone().text()).toBe(201);
  return response.json();
}

/** POST /challenge with a fresh client nonce (kept beside the answer for the SCRAM proof). */
export async function getChallenge(username: string, send: typeof call = call): Promise<ChallengeBody> {
  const nonce = clientNonce();
  const response = await sendJsonWith(send, "POST", "/challenge", { username, clientNonce: nonce });
  expect(response.status, await response.clone().text()).toBe(200);
  return { ...((await response.json()) as Omit<ChallengeBody, "clientNonce">), clientNonce: nonce };
}

/** A full login with the password; answers with the mechanism the challenge names. */
/** The response to a challenge for this password, in the mechanism the challenge names. */
export const answerTo = async (username: string, password: string, c: ChallengeBody, operation?: string) =>
  c.mechanism === "scram-sha-256" ? (await scramAnswer(username, password, c as Required<ChallengeBody>, "biws", operation)).proof : await seedAnswer(c.mechanism as Seed, password, c.nonce, operation);

export async function loginWith(username: string, password: string, challenge?: ChallengeBody, send: typeof call = call) {
  const c = challenge ?? (await getChallenge(username, send));
  return sendJsonWith(send, "POST", "/login", { username, challengeId: c.challengeId, response: await answerTo(username, password, c) });
}

export async function loginToken(username: string, password: string, send: typeof call = call): Promise<string> {
  const response = await loginWith(username, password, undefined, send);
  expect(response.status, await response.clone().text()).toBe(200);
  return ((await response.json()) as { token: string }).token;
}

/** Row counts of every table, and the table list itself (so a dropped table shows). */
export async function dbSnapshot() {
  const tables = (await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all<{ name: string }>()).results.map((r) => r.name);
  const counts = { users: 0, challenges: 0, sessions: 0, pressure: 0, spent_puzzles: 0 };
  for (const table of Object.keys(counts) as (keyof typeof counts)[]) {
    counts[table] = (await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table}`).first<{ n: number }>())!.n;
  }
  return { tables, counts };
}

export async function expectError(response: Response, status: number, error: string) {
  const body = await response.text();
  expect(response.status, body).toBe(status);
  const parsed = JSON.parse(body) as { error: string; message: string };
  expect(parsed).toEqual({ error, message: expect.any(String) });
  expect(parsed.message.length).toBeGreaterThan(0);
  // No stack frame, source position or exception name may leak into the body.
  expect(body).not.toMatch(/\bat \S+ \(|\.ts:\d+:\d+|[A-Za-z]*Error:/);
  return parsed;
}
