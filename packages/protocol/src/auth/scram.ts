// SCRAM-SHA-256 (RFC 5802 §3, RFC 7677) over the auth server's JSON API.
//
// The client-first message's parts travel in POST /challenge (username and client nonce), the
// server-first message's in its answer (the whole nonce, salt, iterations), the client-final
// message's in POST /login (ClientProof). The AuthMessage is RFC 5802's:
//
//   AuthMessage = "n=" saslname ",r=" client-nonce                 (client-first-message-bare)
//               + ",r=" nonce ",s=" salt ",i=" iterations         (server-first-message)
//               + ",c=" cbind ",r=" nonce ["," "o=" operation]     (client-final-message-without-proof)
//
// where nonce = client-nonce ‖ server-nonce, saslname is the username with "=" written "=3D" and ","
// written "=2C" (RFC 5802 §5.1), salt is standard padded base64 exactly as the challenge returned it
// and iterations is decimal. cbind is base64(gs2-header ‖ cbind-data): over plain JSON there is no
// channel binding, gs2-header = "n,," and cbind = "biws"; through Oblivious HTTP the exchange is bound
// to the server key the client encrypted to, gs2-header = "p=shallot-ohttp,," and cbind-data = that
// raw 32-byte X25519 public key. A proof made for an impostor's key therefore fails at the real
// server. A proof for an operation other than a login (a rotation, rotation.ts) carries it as an
// RFC 5802 extension attribute "o=", so a login's proof cannot rotate and a rotation's cannot log in.
// The password enters PBKDF2 as UTF-8 without SASLprep.

import { type Bytes, concat, constantTimeEqual, utf8 } from "../bytes.ts";
import { toBase64 } from "./base64.ts";

/** RFC 7677 §4 asks for at least 4096; deployed Workers refuse PBKDF2 above 100,000. */
export const SCRAM_MIN_ITERATIONS = 4096;
export const SCRAM_MAX_ITERATIONS = 100_000;
export const SCRAM_DEFAULT_ITERATIONS = 100_000;
export const SCRAM_SALT_BYTES = 16;
export const SCRAM_MIN_SALT_BYTES = 16;
export const SCRAM_MAX_SALT_BYTES = 64;
export const SCRAM_KEY_BYTES = 32;

export interface ScramKeys {
  saltedPassword: Bytes;
  clientKey: Bytes;
  storedKey: Bytes;
  serverKey: Bytes;
}

/** What the server stores: neither value lets its holder compute a ClientProof. */
export interface ScramVerifier {
  storedKey: Bytes;
  serverKey: Bytes;
}

async function hmac(key: Bytes, message: Bytes): Promise<Bytes> {
  const imported = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", imported, message));
}

const sha256 = async (data: Bytes): Promise<Bytes> => new Uint8Array(await crypto.subtle.digest("SHA-256", data));

function xor(a: Bytes, b: Bytes): Bytes {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

export function checkIterations(iterations: number): void {
  if (!Number.isSafeInteger(iterations) || iterations < SCRAM_MIN_ITERATIONS || iterations > SCRAM_MAX_ITERATIONS) {
    throw new RangeError(`SCRAM iterations must be an integer from ${SCRAM_MIN_ITERATIONS} to ${SCRAM_MAX_ITERATIONS}`);
  }
}

/** SaltedPassword := Hi(password, salt, i); ClientKey, StoredKey, ServerKey as RFC 5802 §3. */
export async function scramKeys(password: string, salt: Bytes, iterations: number): Promise<ScramKeys> {
  checkIterations(iterations);
  const material = await crypto.subtle.importKey("raw", utf8(password), "PBKDF2", false, ["deriveBits"]);
  const saltedPassword = new Uint8Array(
    await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, material, SCRAM_KEY_BYTES * 8),
  );
  const clientKey = await hmac(saltedPassword, utf8("Client Key"));
  const serverKey = await hmac(saltedPassword, utf8("Server Key"));
  return { saltedPassword, clientKey, storedKey: await sha256(clientKey), serverKey };
}

/** The registration values for a password: StoredKey and ServerKey (salt and iterations travel beside them). */
export async function scramVerifier(password: string, salt: Bytes, iterations: number): Promise<ScramVerifier> {
  const { storedKey, serverKey } = await scramKeys(password, salt, iterations);
  return { storedKey, serverKey };
}

/** RFC 5802 §5.1 saslname: "=" becomes "=3D" first, then "," becomes "=2C". */
export const escapeScramUsername = (username: string): string => username.replace(/=/g, "=3D").replace(/,/g, "=2C");

export interface AuthMessageParts {
  username: string;
  /** The client's nonce, as sent in the client-first message. */
  clientNonce: string;
  /** The whole nonce: the client's followed by the server's, as the challenge returned it. */
  nonce: string;
  /** Standard padded base64, exactly as the challenge carried it. */
  salt: string;
  iterations: number;
  /** The channel binding: the raw server public key an Oblivious HTTP exchange is encrypted to; none over plain JSON. */
  channelBinding?: Bytes;
  /** The operation the proof is for, when it is not a login (rotation.ts). */
  operation?: string;
}

/** The channel binding type of Oblivious HTTP exchanges (RFC 5802 §6 cb-name). */
export const SCRAM_CHANNEL_BINDING = "shallot-ohttp";

/** The c= attribute: base64(gs2-header ‖ cbind-data). "biws" without channel binding. */
export function channelBindingAttribute(binding?: Bytes): string {
  return binding === undefined ? "biws" : toBase64(concat(utf8(`p=${SCRAM_CHANNEL_BINDING},,`), binding));
}

/** The AuthMessage (see the comment at the top of this file). */
export function authMessage({ username, clientNonce, nonce, salt, iterations, channelBinding, operation }: AuthMessageParts): string {
  const extension = operation === undefined ? "" : `,o=${operation}`;
  return `n=${escapeScramUsername(username)},r=${clientNonce},r=${nonce},s=${salt},i=${iterations},c=${channelBindingAttribute(channelBinding)},r=${nonce}${extension}`;
}

/** Client side: ClientProof := ClientKey XOR HMAC(StoredKey, AuthMessage). */
export async function clientProof(keys: Pick<ScramKeys, "clientKey" | "storedKey">, message: string): Promise<Bytes> {
  return xor(keys.clientKey, await hmac(keys.storedKey, utf8(message)));
}

/** Server side: recovers ClientKey from the proof and checks H(ClientKey) against StoredKey. */
export async function verifyClientProof(storedKey: Bytes, message: string, proof: Bytes): Promise<boolean> {
  if (proof.length !== SCRAM_KEY_BYTES || storedKey.length !== SCRAM_KEY_BYTES) return false;
  const clientSignature = await hmac(storedKey, utf8(message));
  return constantTimeEqual(await sha256(xor(proof, clientSignature)), storedKey);
}

/** ServerSignature := HMAC(ServerKey, AuthMessage), sent back so the client authenticates the server. */
export const serverSignature = (serverKey: Bytes, message: string): Promise<Bytes> => hmac(serverKey, utf8(message));

/** Client side: true when the server's signature proves it holds ServerKey for this exchange. */
export async function verifyServerSignature(serverKey: Bytes, message: string, signature: Bytes): Promise<boolean> {
  return constantTimeEqual(await serverSignature(serverKey, message), signature);
}
