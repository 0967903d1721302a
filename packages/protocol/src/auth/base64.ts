// Standard base64 (RFC 4648 §4, with padding), which SCRAM uses for its salt, keys, proof and signature.

import type { Bytes } from "../bytes.ts";

// Canonical only: the padding must be present and the unused bits of the last character zero,
// so a value has exactly one spelling (re-encoding the decoded bytes must give it back).
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function toBase64(bytes: Bytes): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export function fromBase64(text: string): Bytes {
  if (!BASE64.test(text)) throw new TypeError("not a padded base64 string");
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  if (toBase64(out) !== text) throw new TypeError("not canonical base64");
  return out;
}

/** True for canonical padded base64 of exactly `length` bytes (never throws). */
export function isBase64OfLength(text: string, min: number, max = min): boolean {
  try {
    const length = fromBase64(text).length;
    return length >= min && length <= max;
  } catch {
    return false;
  }
}
