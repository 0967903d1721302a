// A relay's descriptor: who it is, where it listens, its onion key; signed by its identity key.

import * as v from "valibot";
import { type Bytes, fromBase64Url, toBase64Url, toHex, utf8 } from "./bytes.ts";
import { ed25519Sign, ed25519Verify } from "./x25519.ts";

/** True for an absolute http: or https: URL (never throws, unlike `new URL`). */
export function isHttpUrl(value: string): boolean {
  try {
    const { protocol } = new URL(value);
    return protocol === "http:" || protocol === "https:";
  } catch {
    return false;
  }
}

export const RelayIdSchema = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, "A relay id is 64 lowercase hex characters."));
const Key32 = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/, "A key is 32 bytes in base64url."));
const Signature = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{86}$/, "A signature is 64 bytes in base64url."));
export const RelayAddressSchema = v.pipe(
  v.string(),
  v.maxLength(2048),
  v.url(),
  v.check(isHttpUrl, "A relay address is an http(s) URL."),
);

export const DescriptorSchema = v.strictObject({
  id: RelayIdSchema,
  address: RelayAddressSchema,
  onionKey: Key32,
  identityKey: Key32,
  published: v.pipe(v.number(), v.integer(), v.minValue(0)),
});
export type Descriptor = v.InferOutput<typeof DescriptorSchema>;

export const SignedDescriptorSchema = v.strictObject({ descriptor: DescriptorSchema, signature: Signature });
export type SignedDescriptor = v.InferOutput<typeof SignedDescriptorSchema>;

/** The exact bytes an identity key signs: one field a line, in this order. */
export const descriptorSigningBytes = (d: Descriptor): Bytes =>
  utf8(`shallot-descriptor-v1\n${d.id}\n${d.address}\n${d.onionKey}\n${d.identityKey}\n${d.published}`);

export async function signDescriptor(descriptor: Descriptor, identityKey: CryptoKey): Promise<SignedDescriptor> {
  const signature = await ed25519Sign(identityKey, descriptorSigningBytes(descriptor));
  return { descriptor, signature: toBase64Url(signature) };
}

/**
 * A relay's id is the SHA-256 of its identity key (as Tor's fingerprint is a hash of its identity
 * key), so an id cannot be claimed by anyone who lacks that key.
 */
export async function relayIdFor(identityKey: Bytes): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", identityKey)));
}

/** True when the signature verifies under the identity key and the id is that key's fingerprint. */
export async function verifyDescriptor(signed: SignedDescriptor): Promise<boolean> {
  const identityKey = fromBase64Url(signed.descriptor.identityKey);
  if ((await relayIdFor(identityKey)) !== signed.descriptor.id) return false;
  return ed25519Verify(identityKey, fromBase64Url(signed.signature), descriptorSigningBytes(signed.descriptor));
}

/** A relay leaving the network says so under its identity key, so nobody else can retire it. */
export const RetirementSchema = v.strictObject({ id: RelayIdSchema, at: v.pipe(v.number(), v.integer()), signature: Signature });
export type Retirement = v.InferOutput<typeof RetirementSchema>;
export const retirementSigningBytes = (id: string, at: number): Bytes => utf8(`shallot-retire-v1\n${id}\n${at}`);
