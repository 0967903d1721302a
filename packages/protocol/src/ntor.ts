// The ntor handshake of tor-spec 5.1.4, over X25519 and SHA-256, with our own PROTOID.
// The client proves nothing; the relay proves it holds the onion key B named in the consensus,
// so a man in the middle who lacks b cannot produce AUTH.

import { type Bytes, ByteReader, concat, constantTimeEqual, utf8 } from "./bytes.ts";
import { ProtocolError } from "./errors.ts";
import { type KeyPair, generateX25519, x25519 } from "./x25519.ts";
import { CIRCUIT_KEY_BYTES } from "./circuit-keys.ts";

export const PROTOID = "shallot-ntor-x25519-sha256-1";
const T_MAC = utf8(`${PROTOID}:mac`);
const T_KEY = utf8(`${PROTOID}:key_extract`);
const T_VERIFY = utf8(`${PROTOID}:verify`);
const M_EXPAND = utf8(`${PROTOID}:key_expand`);
const SERVER = utf8("Server");

export const NTOR_HANDSHAKE_TYPE = 0x0002;
export const RELAY_ID_BYTES = 32;
/** ID | B | X */
export const NTOR_ONIONSKIN_BYTES = RELAY_ID_BYTES + 32 + 32;
/** Y | AUTH */
export const NTOR_REPLY_BYTES = 32 + 32;

async function hmacSha256(key: Bytes, message: Bytes): Promise<Bytes> {
  const hmacKey = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", hmacKey, message));
}

async function expandKeys(secretInput: Bytes): Promise<Bytes> {
  const ikm = await crypto.subtle.importKey("raw", secretInput, "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: T_KEY, info: M_EXPAND }, ikm, CIRCUIT_KEY_BYTES * 8);
  return new Uint8Array(bits);
}

/** X25519 that refuses low-order points: tor-spec requires aborting on an all-zero output. */
async function exchange(privateKey: CryptoKey, publicKey: Bytes): Promise<Bytes> {
  const degenerate = () => new ProtocolError("handshake_failed", "The key exchange produced a degenerate shared secret.");
  let shared: Bytes;
  try {
    shared = await x25519(privateKey, publicKey);
  } catch {
    // WebCrypto (OpenSSL, BoringSSL) itself throws an OperationError on an all-zero output.
    throw degenerate();
  }
  if (shared.every((byte) => byte === 0)) throw degenerate();
  return shared;
}

export interface NtorClientState {
  relayId: Bytes;
  onionKey: Bytes;
  ephemeral: KeyPair;
}

/** Starts a handshake with the relay `relayId` whose onion key is `onionKey` (both from the consensus). */
export async function ntorClientStart(relayId: Bytes, onionKey: Bytes, ephemeral?: KeyPair): Promise<{ state: NtorClientState; onionskin: Bytes }> {
  if (relayId.length !== RELAY_ID_BYTES || onionKey.length !== 32) throw new ProtocolError("handshake_failed", "Relay id or onion key has the wrong length.");
  const x = ephemeral ?? (await generateX25519());
  return { state: { relayId, onionKey, ephemeral: x }, onionskin: concat(relayId, onionKey, x.publicKey) };
}

export interface NtorRelayIdentity {
  relayId: Bytes;
  onionKey: KeyPair;
}

/** The relay's half: checks the onionskin names this relay, answers Y | AUTH, returns the circuit key material. */
export async function ntorServer(onionskin: Bytes, relay: NtorRelayIdentity, ephemeral?: KeyPair): Promise<{ reply: Bytes; keyMaterial: Bytes }> {
  if (onionskin.length !== NTOR_ONIONSKIN_BYTES) throw new ProtocolError("malformed_cell", "The onionskin has the wrong length.");
  const reader = new ByteReader(onionskin);
  const id = reader.raw(RELAY_ID_BYTES);
  const B = reader.raw(32);
  const X = reader.raw(32);
  if (!constantTimeEqual(id, relay.relayId) || !constantTimeEqual(B, relay.onionKey.publicKey)) {
    throw new ProtocolError("wrong_relay", "The handshake names another relay or onion key.");
  }
  const y = ephemeral ?? (await generateX25519());
  const xy = await exchange(y.privateKey, X);
  const xb = await exchange(relay.onionKey.privateKey, X);
  const Y = y.publicKey;
  const secretInput = concat(xy, xb, id, B, X, Y, utf8(PROTOID));
  const verify = await hmacSha256(T_VERIFY, secretInput);
  const auth = await hmacSha256(T_MAC, concat(verify, id, B, Y, X, utf8(PROTOID), SERVER));
  return { reply: concat(Y, auth), keyMaterial: await expandKeys(secretInput) };
}

/** The client's second half: checks AUTH, so only the holder of the onion key could have answered. */
export async function ntorClientFinish(state: NtorClientState, reply: Bytes): Promise<Bytes> {
  if (reply.length !== NTOR_REPLY_BYTES) throw new ProtocolError("handshake_failed", "The handshake reply has the wrong length.");
  const Y = reply.subarray(0, 32);
  const auth = reply.subarray(32);
  const yx = await exchange(state.ephemeral.privateKey, Y);
  const bx = await exchange(state.ephemeral.privateKey, state.onionKey);
  const X = state.ephemeral.publicKey;
  const secretInput = concat(yx, bx, state.relayId, state.onionKey, X, Y, utf8(PROTOID));
  const verify = await hmacSha256(T_VERIFY, secretInput);
  const expected = await hmacSha256(T_MAC, concat(verify, state.relayId, state.onionKey, Y, X, utf8(PROTOID), SERVER));
  if (!constantTimeEqual(expected, auth)) throw new ProtocolError("handshake_failed", "The relay did not prove it holds its onion key.");
  return expandKeys(secretInput);
}
