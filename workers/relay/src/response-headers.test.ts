import { describe, expect, it } from "vitest";
import { responseHeaders } from "./response-headers.ts";

const serve = (headers: [string, string][]) => responseHeaders(headers, "http://origin.example/dir/page", "https://gateway.example");

describe("the origin's headers as the gateway serves them", () => {
  it("drops what would make a browser report to, or keep state for, the origin from the gateway's origin", () => {
    const hostile: [string, string][] = [
      ["set-cookie", "a=1"],
      ["link", "<https://tracker.example/>; rel=preload"],
      ["refresh", "0; url=https://tracker.example/"],
      ["nel", '{"report_to":"t","max_age":86400}'],
      ["report-to", '{"group":"t","endpoints":[{"url":"https://tracker.example/r"}]}'],
      ["reporting-endpoints", 't="https://tracker.example/r"'],
      ["content-security-policy-report-only", "default-src 'none'; report-uri https://tracker.example/r"],
      ["clear-site-data", '"*"'],
      ["strict-transport-security", "max-age=31536000; includeSubDomains"],
      ["alt-svc", 'h3=":443"'],
      ["service-worker-allowed", "/"],
      ["access-control-allow-origin", "*"],
      ["Access-Control-Allow-Credentials", "true"],
      ["accept-ch", "Sec-CH-UA-Model"],
      ["sourcemap", "https://tracker.example/map"],
      ["x-dns-prefetch-control", "on"],
      // Newer ones a denylist missed: a browser acts on each for the origin it came from.
      ["set-login", "logged-in"],
      ["sec-session-registration", '(ES256);path="/reg";challenge="c"'],
      ["activate-storage-access", "retry; allowed-origin=*"],
      ["observe-browsing-topics", "?1"],
      ["attribution-reporting-register-source", "{}"],
      ["cross-origin-opener-policy-report-only", "same-origin; report-to=t"],
      ["permissions-policy-report-only", "geolocation=()"],
      ["document-policy", "x"],
      ["no-vary-search", "params"],
      ["server-timing", "db;dur=53"],
      // Basic credentials typed for one destination would be kept for the gateway's /fetch, and sent to all.
      ["www-authenticate", 'Basic realm="x"'],
    ];
    const served = serve([...hostile, ["content-type", "text/html"], ["x-custom", "kept"], ["cache-control", "no-store"], ["etag", '"v1"'], ["content-disposition", "inline"]]);
    for (const [name] of hostile) {
      if (name === "x-dns-prefetch-control") continue;
      expect(served.get(name), name).toBeNull();
    }
    expect(served.get("x-dns-prefetch-control")).toBe("off");
    expect(served.get("content-type")).toBe("text/html");
    expect(served.get("x-custom")).toBe("kept");
    expect(served.get("cache-control")).toBe("no-store");
    expect(served.get("etag")).toBe('"v1"');
    expect(served.get("content-disposition")).toBe("inline");
  });

  it("sends a redirect back through the gateway and sandboxes the document", () => {
    const served = serve([
      ["location", "../next?x=1"],
      ["content-security-policy", "script-src *"],
    ]);
    expect(served.get("location")).toBe(`https://gateway.example/fetch?url=${encodeURIComponent("http://origin.example/next?x=1")}`);
    expect(served.get("content-security-policy")).toBe("sandbox; default-src 'none'");
    expect(served.get("referrer-policy")).toBe("no-referrer");
  });
});
