// A relay's descriptor: who it is, where it listens, its onion key; signed by its identity key.

import * as v from "valibot";
import { type Bytes, fromBase64Url, toBase64Url, toHex, utf8 } from "./bytes.ts";
import { classifyDestination } from "./exit-policy.ts";
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

/** Path segments a deployment's base URL may carry before `/relays/<id>`: plain names, never "." or "..". */
const BASE_SEGMENT = /^(?!\.{1,2}$)[A-Za-z0-9._~-]+$/;

const RELAY_ROUTE = /(^|\/)relays\/+[0-9a-f]{64}(\/|$)/i;

/**
 * Whether a URL names a relay's routes (`…/relays/<64 hex>`, then anything): the exit carries no
 * request there, so a client cannot run a circuit inside another's REQUESTs (Tor's exits refuse
 * relays' addresses for the same reason) and make each cell cost many circuits' hops. Checked on
 * the path as given and percent-decoded, in any case.
 */
export function namesRelayRoute(url: URL): boolean {
  let decoded = url.pathname;
  try {
    decoded = decodeURIComponent(url.pathname);
  } catch {}
  return RELAY_ROUTE.test(url.pathname) || RELAY_ROUTE.test(decoded);
}

/**
 * True when `address` is exactly `<base>/relays/<id>`: an http(s) URL already in the URL parser's
 * canonical form (so no "..", no percent-encoding, no default port, lowercase host), with no
 * userinfo, query or fragment, only printable ASCII, and ending in this relay's own id. Anything
 * else could make a relay POST cells to a route that is not a relay's cell endpoint.
 */
export function isCanonicalRelayAddress(address: string, id: string): boolean {
  if (address.length > 2048 || !/^[\x21-\x7e]+$/.test(address) || address.includes("%") || !/^[0-9a-f]{64}$/.test(id)) return false;
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    return false;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return false;
  if (url.username || url.password || url.search || url.hash || address.includes("?") || address.includes("#")) return false;
  if (url.href !== address) return false;
  const segments = url.pathname.split("/").slice(1);
  const tail = segments.splice(-2);
  return tail[0] === "relays" && tail[1] === id && segments.every((segment) => BASE_SEGMENT.test(segment));
}
const Key32 = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/, "A key is 32 bytes in base64url."));
const Signature = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{86}$/, "A signature is 64 bytes in base64url."));
export const RelayAddressSchema = v.pipe(
  v.string(),
  v.maxLength(2048),
  v.url(),
  v.check(isHttpUrl, "A relay address is an http(s) URL."),
);

/**
 * What a relay's exit does with a REQUEST: `none` refuses every destination (a relay that is never
 * an exit), `public` fetches public destinations only (docs/protocol.md section 18), `all` fetches any.
 */
export const EXIT_POLICIES = ["none", "public", "all"] as const;
export const ExitPolicySchema = v.picklist(EXIT_POLICIES, "An exit policy is none, public or all.");
export type ExitPolicy = v.InferOutput<typeof ExitPolicySchema>;

/** A descriptor's members, in the order they are signed and serialised. */
export const DescriptorEntries = {
  id: RelayIdSchema,
  address: RelayAddressSchema,
  onionKey: Key32,
  identityKey: Key32,
  exitPolicy: ExitPolicySchema,
  published: v.pipe(v.number(), v.integer(), v.minValue(0)),
};

/** Checks that a descriptor (or a consensus entry) names its canonical address. */
export const canonicalAddressCheck = <T extends { address: string; id: string }>() =>
  v.check<T, string>((d) => isCanonicalRelayAddress(d.address, d.id), "A relay address must be exactly <base>/relays/<id>, in canonical form.");

export const DescriptorSchema = v.pipe(v.strictObject(DescriptorEntries), canonicalAddressCheck());
export type Descriptor = v.InferOutput<typeof DescriptorSchema>;

export const SignedDescriptorSchema = v.strictObject({ descriptor: DescriptorSchema, signature: Signature });
export type SignedDescriptor = v.InferOutput<typeof SignedDescriptorSchema>;

/** The exact bytes an identity key signs: one field a line, in this order. */
export const descriptorSigningBytes = (d: Descriptor): Bytes =>
  utf8(`shallot-descriptor-v2\n${d.id}\n${d.address}\n${d.onionKey}\n${d.identityKey}\n${d.exitPolicy}\n${d.published}`);

/**
 * The deployment a relay belongs to: the unit of the authorities' per-host limit and allowlist, and
 * of the clients' family rule. For a public address, its host name without the port, so that one
 * operator's host does not count as several by serving relays on several ports (Tor counts per
 * IP; a Workers deployment has no IP of its own, its name is what it owns). For a loopback or
 * private address (a dev mesh, where ports stand for deployments) the port is kept.
 */
export function deploymentHost(address: string): string {
  const url = new URL(address);
  return classifyDestination(url) === "private" ? url.host : url.hostname.toLowerCase().replace(/\.+$/, "");
}

/** Whether two descriptors describe the same relay at the same place with the same keys (`published` aside). */
export const sameRelay = (a: Descriptor, b: Descriptor): boolean =>
  a.id === b.id && a.address === b.address && a.onionKey === b.onionKey && a.identityKey === b.identityKey && a.exitPolicy === b.exitPolicy;

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
