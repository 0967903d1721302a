// Which headers cross the circuit. Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection,
// and headers that name the client or the gateway would undo the anonymity the circuit gives.

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate", "host", "content-length"]);
const IDENTIFYING = new Set(["forwarded", "x-real-ip", "true-client-ip", "via"]);
const IDENTIFYING_PREFIXES = ["cf-", "x-forwarded-", "onion-"];

/** The end-to-end headers of a message, minus anything that identifies the sender or a hop. */
export function endToEndHeaders(headers: Iterable<[string, string]>): [string, string][] {
  const out: [string, string][] = [];
  for (const [rawName, value] of headers) {
    const name = rawName.toLowerCase();
    if (HOP_BY_HOP.has(name) || IDENTIFYING.has(name)) continue;
    if (IDENTIFYING_PREFIXES.some((prefix) => name.startsWith(prefix))) continue;
    out.push([name, value]);
  }
  return out;
}
