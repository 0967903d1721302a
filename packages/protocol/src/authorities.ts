// The directory authorities a participant pins: each one's URL and Ed25519 key. Relays publish to
// every one of them, authorities exchange votes with each other, and clients accept a consensus only
// when more than half of them signed it. One list format is read everywhere (relay worker env,
// authority env, the CLI's flags and environment): entries `KEY@URL`, separated by commas or spaces.

import { fromBase64Url, toBase64Url } from "./bytes.ts";
import { isHttpUrl } from "./descriptor.ts";

export interface Authority {
  /** Base URL, without a trailing "/"; routes (/consensus, /descriptors, …) are appended to it. */
  url: string;
  /** Its Ed25519 public key, base64url (43 characters). */
  key: string;
}

/** More authorities than this is a configuration mistake, not a network. */
export const MAX_AUTHORITIES = 9;

/** Signatures (or votes) needed out of `count` authorities: more than half of all of them. */
export const majorityOf = (count: number): number => Math.floor(count / 2) + 1;

/** A 32-byte key in canonical base64url, so that one key has exactly one spelling. */
export const isAuthorityKey = (key: string): boolean => /^[A-Za-z0-9_-]{43}$/.test(key) && toBase64Url(fromBase64Url(key)) === key;

export class AuthorityListError extends Error {
  override readonly name = "AuthorityListError";
}

/**
 * Parses `KEY@URL, KEY@URL, …` (commas or whitespace between entries). Throws AuthorityListError,
 * naming the entry, for a bad key or URL, a repeated key or URL, an empty list or too long a one.
 */
export function parseAuthorities(text: string): Authority[] {
  const entries = text.split(/[\s,]+/).filter((entry) => entry !== "");
  if (entries.length === 0) throw new AuthorityListError("The authority list is empty; give each authority as KEY@URL.");
  if (entries.length > MAX_AUTHORITIES) throw new AuthorityListError(`At most ${MAX_AUTHORITIES} authorities can be pinned.`);
  const authorities = entries.map((entry) => {
    const at = entry.indexOf("@");
    const key = at < 0 ? "" : entry.slice(0, at);
    const url = at < 0 ? "" : entry.slice(at + 1).replace(/\/+$/, "");
    if (at < 0) throw new AuthorityListError(`'${entry.slice(0, 80)}' is not KEY@URL.`);
    if (!isAuthorityKey(key)) throw new AuthorityListError(`'${key.slice(0, 80)}' is not an Ed25519 public key (32 bytes, base64url: 43 characters).`);
    if (!isHttpUrl(url)) throw new AuthorityListError(`'${url.slice(0, 80)}' is not an http(s) URL.`);
    return { url, key };
  });
  if (new Set(authorities.map((a) => a.key)).size !== authorities.length) throw new AuthorityListError("An authority key is listed twice.");
  if (new Set(authorities.map((a) => a.url)).size !== authorities.length) throw new AuthorityListError("An authority URL is listed twice.");
  return authorities;
}

/** The list in the format parseAuthorities reads. */
export const formatAuthorities = (authorities: readonly Authority[]): string => authorities.map((a) => `${a.key}@${a.url}`).join(",");
