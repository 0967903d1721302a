// The origin's headers as the gateway serves them. Its documents are served from the gateway's
// origin, so nothing in them may make a browser act for the origin directly (which would show it
// the user's address) or keep state across destinations.

/**
 * Dropped: cookies; preloads and refreshes; report endpoints (NEL, Report-To, CSP report-only,
 * Expect-CT), which a browser would post to from the user's address; state a browser keeps for the
 * gateway's origin (Clear-Site-Data, HSTS, Alt-Svc, service workers, client hints); CORS grants,
 * which would speak for the gateway's origin; and source maps a debugger would fetch.
 */
const DROPPED = new Set([
  "set-cookie",
  "set-cookie2",
  "link",
  "refresh",
  "nel",
  "report-to",
  "reporting-endpoints",
  "content-security-policy-report-only",
  "expect-ct",
  "clear-site-data",
  "strict-transport-security",
  "alt-svc",
  "service-worker-allowed",
  "accept-ch",
  "critical-ch",
  "origin-trial",
  "timing-allow-origin",
  "sourcemap",
  "x-sourcemap",
  "speculation-rules",
  "x-dns-prefetch-control",
]);

const dropped = (name: string) => DROPPED.has(name) || name.startsWith("access-control-");

/**
 * The exit's headers, minus the dropped ones, with redirects sent back through the gateway and the
 * document sandboxed with no subresources.
 */
export function responseHeaders(exitHeaders: [string, string][], target: string, gatewayOrigin: string): Headers {
  const headers = new Headers();
  for (const [name, value] of exitHeaders) {
    const lower = name.toLowerCase();
    if (dropped(lower)) continue;
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
