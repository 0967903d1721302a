// Exit policy: which destinations an exit refuses. Checked on the parsed URL, whose host the
// WHATWG parser has already normalised (so "http://2130706433/" is 127.0.0.1 here).

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

function ipv6Class(host: string): DestinationClass | null {
  if (!host.startsWith("[") || !host.endsWith("]")) return null;
  const address = host.slice(1, -1).toLowerCase();
  if (address === "::" || address === "::1") return "private";
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(address);
  if (mapped) {
    const high = Number.parseInt(mapped[1]!, 16);
    const low = Number.parseInt(mapped[2]!, 16);
    return ipv4Class(`${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`);
  }
  const first = Number.parseInt(address.split(":")[0] || "0", 16);
  if ((first & 0xfe00) === 0xfc00) return "private"; // unique local fc00::/7
  if ((first & 0xffc0) === 0xfe80) return "private"; // link-local fe80::/10
  if ((first & 0xff00) === 0xff00) return "private"; // multicast
  return "public";
}

/** Loopback, private, link-local and other non-public destinations are "private". */
export function classifyDestination(url: URL): DestinationClass {
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  const literal = ipv4Class(host) ?? ipv6Class(host);
  if (literal) return literal;
  if (host === "localhost" || host.endsWith(".localhost") || host.endsWith(".local") || host.endsWith(".internal") || host.endsWith(".home.arpa")) {
    return "private";
  }
  if (!host.includes(".")) return "private"; // single-label names resolve only inside a private network
  return "public";
}
