// The origin's headers as the gateway serves them. Its documents are served from the gateway's
// origin, so nothing in them may make a browser act for the origin directly (which would show it
// the user's address) or keep state across destinations.

/**
 * Served, by allowlist: what describes the document and its caching, and any `x-` header (the
 * extensions browsers act on — `x-frame-options`, `x-content-type-options` — are harmless or
 * overwritten). Everything else is dropped, as browsers keep adding headers that act for the origin
 * they arrive from: cookies, preloads, report endpoints a browser would post to from the user's
 * address (NEL, Report-To, `*-report-only`), state it would keep for the gateway's origin
 * (Clear-Site-Data, HSTS, Alt-Svc, service workers, client hints, login status, sessions), CORS
 * grants that would speak for the gateway's origin, and `www-authenticate`: a browser would keep the
 * credentials typed into its prompt for the gateway's origin and send them to every destination.
 */
const SERVED = new Set([
  "content-type",
  "content-length",
  "content-language",
  "content-disposition",
  "content-range",
  "accept-ranges",
  "cache-control",
  "expires",
  "pragma",
  "last-modified",
  "etag",
  "age",
  "date",
  "vary",
  "retry-after",
  "allow",
  "server",
  "location",
]);
/** `x-` headers a browser acts on in a way that matters here. */
const X_DROPPED = new Set(["x-sourcemap", "x-dns-prefetch-control"]);

const served = (name: string) => SERVED.has(name) || (name.startsWith("x-") && !X_DROPPED.has(name));

/**
 * The exit's headers that may be served, with redirects sent back through the gateway and the
 * document sandboxed with no subresources.
 */
export function responseHeaders(exitHeaders: [string, string][], target: string, gatewayOrigin: string): Headers {
  const headers = new Headers();
  for (const [name, value] of exitHeaders) {
    const lower = name.toLowerCase();
    if (!served(lower)) continue;
    if (lower === "location") {
      let absolute: string;
      try {
        absolute = new URL(value, target).href;
      } catch {
        continue;
      }
      headers.append(lower, `${gatewayOrigin}/fetch?url=${encodeURIComponent(absolute)}`);
      continue;
    }
    headers.append(lower, value);
  }
  headers.set("content-security-policy", "sandbox; default-src 'none'");
  headers.set("referrer-policy", "no-referrer");
  headers.set("x-content-type-options", "nosniff");
  headers.set("x-dns-prefetch-control", "off");
  return headers;
}
