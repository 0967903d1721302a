import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { escapeHtml } from "../src/status-page.ts";
import { call, makeRelay } from "./helpers.ts";

describe("status page", () => {
  it("lists a registered relay's address (addresses are canonical, and escaped all the same)", async () => {
    const relay = await makeRelay("https://relay.test/a_b~c");
    expect((await relay.register()).status).toBe(200);
    const response = await call("/");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await response.text();
    expect(html).toContain(relay.address);
    expect(html).toContain(relay.id.slice(0, 12));
    expect(html).toContain(env.DIRECTORY_PUBLIC_KEY_FOR_TESTS);
    expect(html).toMatch(/<strong>1<\/strong> live relay\b/);
    expect(html).toContain('http-equiv="refresh"');
  });

  it("escapes every HTML metacharacter", () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe("&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
  });
});
