// Oblivious HTTP (RFC 9458) encapsulation: how the onion proxies (gateway, CLI) talk to the auth
// server end to end, through an exit that sees only ciphertext. The client encapsulates a Binary
// HTTP request (bhttp.ts) to the server's pinned HPKE key (§4.3); the server answers under a key
// exported from that HPKE context (§4.4), so only the client that sent the request can read the
// answer and nobody without the server's private key can write one.
//
// One suite: DHKEM(X25519, HKDF-SHA256) 0x0020, HKDF-SHA256 0x0001, AES-128-GCM 0x0001. The key
// identifier is the first byte of SHA-256(raw public key), so a client that pins only the public
// key knows it too.

import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { type Bytes, concat, randomBytes, utf8 } from "../bytes.ts";

export const OHTTP_KEM_ID = 0x0020;
export const OHTTP_KDF_ID = 0x0001;
export const OHTTP_AEAD_ID = 0x0001;
export const OHTTP_REQUEST_TYPE = "message/ohttp-req";
export const OHTTP_RESPONSE_TYPE = "message/ohttp-res";
export const OHTTP_KEYS_TYPE = "application/ohttp-keys";
/** RFC 9458 §4.1's labels for Binary HTTP inner messages. */
const REQUEST_LABEL = "message/bhttp request";
const RESPONSE_LABEL = "message/bhttp response";
const HEADER_BYTES = 7;
const ENC_BYTES = 32;
const TAG_BYTES = 16;
const NK = 16;
const NN = 12;
/** max(Nn, Nk) for AES-128-GCM: the exported secret's and the response nonce's length. */
const RESPONSE_NONCE_BYTES = Math.max(NN, NK);

const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });

export type OhttpErrorCode = "unknown_key" | "unsupported_suite" | "malformed" | "decrypt_failed";

export class OhttpError extends Error {
  override readonly name = "OhttpError";
  readonly code: OhttpErrorCode;
  constructor(code: OhttpErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** A gateway's public key configuration (RFC 9458 §3). */
export interface OhttpKeyConfig {
  keyId: number;
  /** Raw 32-byte X25519 public key. */
  publicKey: Bytes;
}

/** The key identifier Shallot uses for a public key: the first byte of its SHA-256. */
export async function ohttpKeyId(publicKey: Bytes): Promise<number> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", publicKey))[0]!;
}

export const ohttpKeyConfigFor = async (publicKey: Bytes): Promise<OhttpKeyConfig> => ({ keyId: await ohttpKeyId(publicKey), publicKey });

const u16 = (value: number): Bytes => Uint8Array.of(value >> 8, value & 0xff);

/** Key Config (RFC 9458 §3.1): key id, KEM id, public key, then the (KDF, AEAD) pairs it accepts. */
export function encodeKeyConfig(config: OhttpKeyConfig, algorithms: [number, number][] = [[OHTTP_KDF_ID, OHTTP_AEAD_ID]]): Bytes {
  const pairs = concat(...algorithms.flatMap(([kdf, aead]) => [u16(kdf), u16(aead)]));
  return concat(Uint8Array.of(config.keyId), u16(OHTTP_KEM_ID), config.publicKey, u16(pairs.length), pairs);
}

/** application/ohttp-keys (RFC 9458 §3.2): each Key Config preceded by its 2-byte length. */
export function encodeKeyConfigs(configs: OhttpKeyConfig[]): Bytes {
  return concat(...configs.map((config) => encodeKeyConfig(config)).flatMap((encoded) => [u16(encoded.length), encoded]));
}

/** Reads one Key Config; throws OhttpError("unsupported_suite") unless it offers this suite. */
export function decodeKeyConfig(bytes: Bytes): OhttpKeyConfig {
  if (bytes.length < 1 + 2 + ENC_BYTES + 2) throw new OhttpError("malformed", "The key configuration is truncated.");
  const keyId = bytes[0]!;
  const kem = (bytes[1]! << 8) | bytes[2]!;
  if (kem !== OHTTP_KEM_ID) throw new OhttpError("unsupported_suite", `The key configuration's KEM 0x${kem.toString(16)} is not X25519 (0x0020).`);
  const publicKey = bytes.slice(3, 3 + ENC_BYTES);
  let offset = 3 + ENC_BYTES;
  const length = (bytes[offset]! << 8) | bytes[offset + 1]!;
  offset += 2;
  if (length < 4 || length % 4 !== 0 || offset + length !== bytes.length) throw new OhttpError("malformed", "The key configuration's algorithm list is malformed.");
  let supported = false;
  for (let i = offset; i < offset + length; i += 4) {
    if (((bytes[i]! << 8) | bytes[i + 1]!) === OHTTP_KDF_ID && ((bytes[i + 2]! << 8) | bytes[i + 3]!) === OHTTP_AEAD_ID) supported = true;
  }
  if (!supported) throw new OhttpError("unsupported_suite", "The key configuration does not offer HKDF-SHA256 with AES-128-GCM.");
  return { keyId, publicKey };
}

/** hdr = key_id (1) ‖ kem_id (2) ‖ kdf_id (2) ‖ aead_id (2) (RFC 9458 §4.3). */
const header = (keyId: number): Bytes => concat(Uint8Array.of(keyId), u16(OHTTP_KEM_ID), u16(OHTTP_KDF_ID), u16(OHTTP_AEAD_ID));
/** info = "message/bhttp request" ‖ 0x00 ‖ hdr. */
const requestInfo = (hdr: Bytes): Bytes => concat(utf8(REQUEST_LABEL), Uint8Array.of(0), hdr);

/** The response AEAD key and nonce: HKDF with salt = enc ‖ response_nonce over the exported secret (§4.4). */
async function responseKey(secret: Bytes, enc: Bytes, responseNonce: Bytes): Promise<{ key: CryptoKey; iv: Bytes }> {
  const ikm = await crypto.subtle.importKey("raw", secret, "HKDF", false, ["deriveBits"]);
  const salt = concat(enc, responseNonce);
  // WebCrypto's HKDF is Expand(Extract(salt, ikm), info, L): exactly the RFC's two steps.
  const raw = new Uint8Array(await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info: utf8("key") }, ikm, NK * 8));
  const iv = new Uint8Array(await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info: utf8("nonce") }, ikm, NN * 8));
  return { key: await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]), iv };
}

export interface EncapsulatedRequest {
  /** The body of POST /ohttp (message/ohttp-req). */
  encapsulated: Bytes;
  /** Opens the matching message/ohttp-res; throws OhttpError when it was not made by this request's server. */
  openResponse(encapsulatedResponse: Bytes): Promise<Bytes>;
}

/** Client side (§4.3): encapsulates `request` to the server's key. `ephemeral` is for test vectors only. */
export async function encapsulateRequest(config: OhttpKeyConfig, request: Bytes, ephemeral?: CryptoKeyPair): Promise<EncapsulatedRequest> {
  const hdr = header(config.keyId);
  const recipientPublicKey = await suite.kem.deserializePublicKey(config.publicKey);
  const sender = await suite.createSenderContext({ recipientPublicKey, info: requestInfo(hdr), ...(ephemeral ? { ekm: ephemeral } : {}) });
  const enc = new Uint8Array(sender.enc);
  const ct = new Uint8Array(await sender.seal(request));
  const secret = new Uint8Array(await sender.export(utf8(RESPONSE_LABEL), RESPONSE_NONCE_BYTES));
  return {
    encapsulated: concat(hdr, enc, ct),
    async openResponse(encapsulatedResponse) {
      if (encapsulatedResponse.length < RESPONSE_NONCE_BYTES + TAG_BYTES) throw new OhttpError("malformed", "The encapsulated response is truncated.");
      const responseNonce = encapsulatedResponse.slice(0, RESPONSE_NONCE_BYTES);
      const { key, iv } = await responseKey(secret, enc, responseNonce);
      try {
        return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv }, key, encapsulatedResponse.slice(RESPONSE_NONCE_BYTES)));
      } catch {
        throw new OhttpError("decrypt_failed", "The encapsulated response does not open: it was not written by the server this request was encrypted to.");
      }
    },
  };
}

export interface DecapsulatedRequest {
  request: Bytes;
  /** Encrypts the answer for the client that sent the request (message/ohttp-res). */
  sealResponse(response: Bytes): Promise<Bytes>;
}

/** Server side (§4.3, §4.4). `responseNonce` is for test vectors only. */
export async function decapsulateRequest(key: { keyId: number; privateKey: CryptoKey }, encapsulated: Bytes, responseNonce?: Bytes): Promise<DecapsulatedRequest> {
  if (encapsulated.length < HEADER_BYTES + ENC_BYTES + TAG_BYTES) throw new OhttpError("malformed", "The encapsulated request is truncated.");
  const hdr = encapsulated.slice(0, HEADER_BYTES);
  if (hdr[0] !== key.keyId) throw new OhttpError("unknown_key", `The request is encrypted to key id ${hdr[0]}; this server's is ${key.keyId}.`);
  if (((hdr[1]! << 8) | hdr[2]!) !== OHTTP_KEM_ID || ((hdr[3]! << 8) | hdr[4]!) !== OHTTP_KDF_ID || ((hdr[5]! << 8) | hdr[6]!) !== OHTTP_AEAD_ID) {
    throw new OhttpError("unsupported_suite", "The request's HPKE suite is not X25519, HKDF-SHA256, AES-128-GCM.");
  }
  const enc = encapsulated.slice(HEADER_BYTES, HEADER_BYTES + ENC_BYTES);
  let request: Bytes;
  let secret: Bytes;
  try {
    const recipient = await suite.createRecipientContext({ recipientKey: key.privateKey, enc, info: requestInfo(hdr) });
    request = new Uint8Array(await recipient.open(encapsulated.slice(HEADER_BYTES + ENC_BYTES)));
    secret = new Uint8Array(await recipient.export(utf8(RESPONSE_LABEL), RESPONSE_NONCE_BYTES));
  } catch {
    throw new OhttpError("decrypt_failed", "The encapsulated request does not open with this server's key.");
  }
  return {
    request,
    async sealResponse(response) {
      const nonce = responseNonce ?? randomBytes(RESPONSE_NONCE_BYTES);
      const { key: aead, iv } = await responseKey(secret, enc, nonce);
      return concat(nonce, new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, aead, response)));
    },
  };
}
