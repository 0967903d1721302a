// A destination as a local program names it (a SOCKS5 name, a CONNECT authority) to the host a
// BEGIN carries: the exit resolves names itself, so a name is passed on, never looked up here.

import { isIP } from "node:net";
import { domainToASCII } from "node:url";
import { isStreamHost } from "@shallot/protocol";

/** Letters (any script), digits, marks, '.', '-', '_': what a name may hold before IDNA. */
const NAME = /^[\p{L}\p{N}\p{M}._-]+$/u;

/** The BEGIN host for `name`: an IPv4 literal, a bracketed canonical IPv6 literal, or a lower-case A-label name; null if it is none. */
export function toStreamHost(name: string): string | null {
  const bare = name.startsWith("[") && name.endsWith("]") ? name.slice(1, -1) : name;
  if (isIP(bare) === 6) return new URL(`http://[${bare}]/`).hostname;
  if (bare !== name) return null;
  if (isIP(name) === 4) return name;
  // domainToASCII alone would cut "a/b" to "a": only name characters reach it.
  if (!NAME.test(name)) return null;
  const ascii = domainToASCII(name);
  return ascii !== "" && isStreamHost(ascii) ? ascii : null;
}

/** A CONNECT target (authority form, RFC 9110 9.3.6): a host name or an IP literal, and a port from 1. */
export function parseAuthority(authority: string): { host: string; port: number } | null {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(authority);
  if (!match) return null;
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return null;
  const host = toStreamHost(match[1]!);
  return host === null ? null : { host, port };
}
