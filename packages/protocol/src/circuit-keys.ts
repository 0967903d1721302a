// The keys one hop shares with the client, cut from the ntor HKDF output (docs/protocol.md, "Keys"),
// and the primitives they are used with. WebCrypto is the default, since relays run in workerd and
// the page in a browser; a Node client may pass its own (node:crypto is about twice as fast there).

import { type Bytes, concat } from "./bytes.ts";

export const CIRCUIT_KEY_BYTES = 160;

/** One hop's layer in one direction: AES-256-CTR whose counter is the IV's low 64 bits. */
export interface LayerCipher {
  /** Adds or removes the layer (CTR is its own inverse); a new array, the input untouched. */
  apply(nonce: Bytes, data: Bytes): Promise<Bytes>;
}

/** An HMAC-SHA256 key. */
export interface Mac {
  /** The 32-byte tag of the parts taken as one message, so a caller need not concatenate them. */
  sign(parts: readonly Bytes[]): Promise<Bytes>;
}

/** Imports raw keys for the primitives above. */
export interface CellCrypto {
  cipher(raw: Bytes): Promise<LayerCipher>;
  mac(raw: Bytes): Promise<Mac>;
}

export interface DirectionKeys {
  /** AES-256-CTR key of this hop's layer in one direction. */
  cipher: LayerCipher;
  /** HMAC-SHA256 key of the digest a cell carries when this hop is its origin or target. */
  mac: Mac;
}

export interface CircuitKeys {
  forward: DirectionKeys;
  backward: DirectionKeys;
  /** HMAC-SHA256 key that turns the nonce this hop receives into the one it forwards. */
  nonce: Mac;
}

/** WebCrypto: runs in workerd, browsers and Node alike. */
export const webCellCrypto: CellCrypto = {
  async cipher(raw) {
    const key = await crypto.subtle.importKey("raw", raw, { name: "AES-CTR" }, false, ["encrypt", "decrypt"]);
    return { apply: async (nonce, data) => new Uint8Array(await crypto.subtle.encrypt({ name: "AES-CTR", counter: nonce, length: 64 }, key, data)) };
  },
  async mac(raw) {
    const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return { sign: async (parts) => new Uint8Array(await crypto.subtle.sign("HMAC", key, parts.length === 1 ? parts[0]! : concat(...parts))) };
  },
};

/** Kf | Kb | Df | Db | Kn, 32 bytes each. */
export async function importCircuitKeys(material: Bytes, primitives: CellCrypto = webCellCrypto): Promise<CircuitKeys> {
  if (material.length !== CIRCUIT_KEY_BYTES) throw new RangeError("circuit key material must be 160 bytes");
  const part = (i: number) => material.subarray(i * 32, (i + 1) * 32);
  const [kf, kb, df, db, kn] = await Promise.all([primitives.cipher(part(0)), primitives.cipher(part(1)), primitives.mac(part(2)), primitives.mac(part(3)), primitives.mac(part(4))]);
  return { forward: { cipher: kf, mac: df }, backward: { cipher: kb, mac: db }, nonce: kn };
}
