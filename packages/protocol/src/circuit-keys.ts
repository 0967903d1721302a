// The keys one hop shares with the client, cut from the ntor HKDF output (docs/protocol.md, "Keys").

import type { Bytes } from "./bytes.ts";

export const CIRCUIT_KEY_BYTES = 160;

export interface DirectionKeys {
  /** AES-256-CTR key of this hop's layer in one direction. */
  cipher: CryptoKey;
  /** HMAC-SHA256 key of the digest a cell carries when this hop is its origin or target. */
  mac: CryptoKey;
}

export interface CircuitKeys {
  forward: DirectionKeys;
  backward: DirectionKeys;
  /** HMAC-SHA256 key that turns the nonce this hop receives into the one it forwards. */
  nonce: CryptoKey;
}

const aes = (raw: Bytes) => crypto.subtle.importKey("raw", raw, { name: "AES-CTR" }, false, ["encrypt", "decrypt"]);
const hmac = (raw: Bytes) => crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);

/** Kf | Kb | Df | Db | Kn, 32 bytes each. */
export async function importCircuitKeys(material: Bytes): Promise<CircuitKeys> {
  if (material.length !== CIRCUIT_KEY_BYTES) throw new RangeError("circuit key material must be 160 bytes");
  const part = (i: number) => material.subarray(i * 32, (i + 1) * 32);
  const [kf, kb, df, db, kn] = await Promise.all([aes(part(0)), aes(part(1)), hmac(part(2)), hmac(part(3)), hmac(part(4))]);
  return { forward: { cipher: kf, mac: df }, backward: { cipher: kb, mac: db }, nonce: kn };
}
