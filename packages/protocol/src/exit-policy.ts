// Exit policy: which destinations an exit refuses. Checked on the parsed URL, whose host the
// WHATWG parser has already normalised (so "http://2130706433/" is 127.0.0.1 here). Names are
// not resolved (a Worker cannot resolve DNS); in production the platform's fetch cannot reach
// private networks, so this is defence in depth against literal and well-known private hosts.

export type DestinationClass = "public" | "private";

function ipv4Class(host: string): DestinationClass | null {
  const match = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  if (!match) return null;
  const [a, b] = [Number(match[1]), Number(match[2])];
  const isPrivate =
    a === 0 || a === 10 || a === 127 || a >= 224 || // this-network, RFC 1918, loopback, multicast and reserved
    (a === 100 && b >= 64 && b <= 127) || // carrier-grade NAT
    (a === 169 && b === 254) || // link-local
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0 && Number(match[3]) === 0) ||
    (a === 198 && (b === 18 || b === 19)); // benchmarking
  return isPrivate ? "private" : "public";
}

/** The eight 16-bit groups of a bracketed IPv6 literal as the URL parser serialises it, or null. */
function ipv6Groups(host: string): number[] | null {
  if (!host.startsWith("[") || !host.endsWith("]")) return null;
  const address = host.slice(1, -1).toLowerCase();
  const [head, tail, extra] = address.split("::");
  if (extra !== undefined) return null;
  const parse = (part: string | undefined) => (part ? part.split(":").map((g) => Number.parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  const groups = tail === undefined ? left : [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

const embeddedIpv4 = (high: number, low: number) => ipv4Class(`${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`);

function ipv6Class(host: string): DestinationClass | null {
  const g = ipv6Groups(host);
  if (!g) return null;
  const zeroUntil = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroUntil(8)) return "private"; // ::
  if (zeroUntil(7) && g[7] === 1) return "private"; // ::1
  if (zeroUntil(5) && g[5] === 0xffff) return embeddedIpv4(g[6]!, g[7]!); // ::ffff:a.b.c.d, mapped
  if (zeroUntil(4) && g[4] === 0xffff && g[5] === 0) return embeddedIpv4(g[6]!, g[7]!); // ::ffff:0:a.b.c.d, translated
  if (zeroUntil(6)) return embeddedIpv4(g[6]!, g[7]!); // ::a.b.c.d, the deprecated compatible form
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return embeddedIpv4(g[6]!, g[7]!); // NAT64
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return "private"; // local-use NAT64 64:ff9b:1::/48
  if (g[0] === 0x2002) return embeddedIpv4(g[1]!, g[2]!); // 6to4
  if (g[0] === 0x2001 && g[1] === 0) return "private"; // Teredo 2001::/32 (the IPv4 inside is obfuscated)
  if ((g[0]! & 0xfe00) === 0xfc00) return "private"; // unique local fc00::/7
  if ((g[0]! & 0xffc0) === 0xfe80) return "private"; // link-local fe80::/10
  if ((g[0]! & 0xffc0) === 0xfec0) return "private"; // site-local fec0::/10 (deprecated, still routed privately)
  if ((g[0]! & 0xff00) === 0xff00) return "private"; // multicast
  return "public";
}

/**
 * The class of an address a name resolved to (dotted IPv4, or IPv6 with or without brackets), by
 * the same rules as literal hosts; anything that is not an address is "private" (refused).
 */
export function classifyAddress(address: string): DestinationClass {
  const bare = address.trim().toLowerCase().replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  return ipv4Class(bare) ?? ipv6Class(`[${bare}]`) ?? "private";
}

/** Loopback, private, link-local and other non-public destinations are "private". */
export function classifyDestination(url: URL): DestinationClass {
  const host = url.hostname.toLowerCase().replace(/\.+$/, "");
  const literal = ipv4Class(host) ?? ipv6Class(host);
  if (literal) return literal;
  if (host === "localhost" || host.endsWith(".localhost") || host.endsWith(".local") || host.endsWith(".internal") || host.endsWith(".home.arpa")) {
    return "private";
  }
  if (!host.includes(".")) return "private"; // single-label names resolve only inside a private network
  return "public";
}
