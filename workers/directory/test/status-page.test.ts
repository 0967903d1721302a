import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { escapeHtml } from "../src/status-page.ts";
import { call, consensusWhere, hostedRelay, listedIds, madeUpRelay } from "./helpers.ts";

describe("status page", () => {
  it("shows each authority and its vote, the consensus, and each relay's flags and test", async () => {
    const relay = await hostedRelay();
    const middle = await hostedRelay(undefined, "honest", "none");
    const liar = await madeUpRelay("https://nowhere.invalid/a_b~c");
    for (const r of [relay, middle]) expect((await r.register()).status).toBe(200);
    await liar.register();
    await consensusWhere((d) => [relay.id, middle.id].every((id) => listedIds(d).includes(id)));
    const response = await call("/");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await response.text();
    expect(html).toContain(env.DIRECTORY_PUBLIC_KEY_FOR_TESTS);
    expect(html).toContain("https://directory.test");
    expect(html).toMatch(/signed by <strong>1<\/strong> of 1 authorities \(clients need 1\)/);
    const row = (id: string) => html.split("\n").find((line) => line.includes(id.slice(0, 12)))!;
    // Consensus flags, then this authority's vote, then its test.
    expect(row(relay.id)).toContain(relay.address);
    expect(row(relay.id)).toMatch(/<strong>Exit Running<\/strong><\/td><td>Exit Running<\/td><td>passed/);
    expect(row(middle.id)).toMatch(/<strong>Running<\/strong><\/td><td>Running<\/td>/);
    expect(row(liar.id)).toMatch(/not listed.*—.*(not tested yet|failed)/);
    expect(html).toContain(liar.address);
    expect(html).toContain('http-equiv="refresh"');
  });

  it("escapes every HTML metacharacter", () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe("&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
  });
});
