// Which headers cross the circuit. A request's headers go by an allowlist: only what an origin
// needs to serve the request is carried, so a header that names the sender, its address or its
// host cannot reach the origin whatever it is called (docs/protocol.md section 13). A response's
// headers only lose the hop-by-hop ones (RFC 9110 7.6.1) and those that name a hop.

/** Every request header an onion proxy sends and an exit forwards, by lower-case name. */
export const FORWARDED_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  "accept",
  "authorization",
  "cache-control",
  "content-encoding",
  "content-language",
  "content-type",
  "cookie",
  "if-match",
  "if-modified-since",
  "if-none-match",
  "if-range",
  "if-unmodified-since",
  "range",
  "user-agent",
]);

/**
 * The user-agent the gateway sends in place of its users' own: Tor Browser's (Firefox ESR 128 on
 * Windows), so that an origin cannot tell the gateway's users apart by their browsers.
 */
export const GATEWAY_USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0";

/** The request headers that may cross the circuit (names lower-cased, order and repeats kept). */
export function forwardedRequestHeaders(headers: Iterable<[string, string]>): [string, string][] {
  const out: [string, string][] = [];
  for (const [rawName, value] of headers) {
    const name = rawName.toLowerCase();
    if (FORWARDED_REQUEST_HEADERS.has(name)) out.push([name, value]);
  }
  return out;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate", "host", "content-length"]);
const IDENTIFYING = new Set(["forwarded", "x-real-ip", "true-client-ip", "via"]);
const IDENTIFYING_PREFIXES = ["cf-", "x-forwarded-", "onion-"];

/** A response's end-to-end headers, minus the hop-by-hop ones and any that name a hop. */
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
