import { CellCommand, encodeCell } from "@shallot/protocol";
import { describe, expect, it } from "vitest";
import { ADMIN, addRelay, relayStub, worker } from "./helpers.ts";

async function expectError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  const body = (await response.json()) as { error: string; message: string };
  expect(body.error).toBe(code);
  expect(body.message).toMatch(/\w/);
  expect(JSON.stringify(body)).not.toMatch(/at .*\.(ts|js):\d+/);
}

const post = (path: string, init: RequestInit = {}) => worker().fetch(`http://relay.test${path}`, { method: "POST", ...init });

describe("bad input to the relay worker", () => {
  it("refuses the admin routes without the bearer token", async () => {
    await expectError(await post("/relays"), 401, "unauthorized");
    await expectError(await post("/relays", { headers: { authorization: "Bearer wrong" } }), 401, "unauthorized");
    const relay = await addRelay();
    await expectError(await worker().fetch(`http://relay.test/relays/${relay.id}`, { method: "DELETE" }), 401, "unauthorized");
  });

  it("answers unknown or malformed relay ids with unknown_relay", async () => {
    await expectError(await post(`/relays/${"0".repeat(64)}/cell`, { body: new Uint8Array(40) }), 404, "unknown_relay");
    await expectError(await post("/relays/not-an-id/cell", { body: new Uint8Array(40) }), 404, "unknown_relay");
  });

  it("answers malformed cells with 400 and unknown link ids with 404, and keeps no row", async () => {
    const relay = await addRelay();
    await expectError(await post(`/relays/${relay.id}/cell`, { body: new Uint8Array([1, 2, 3]) }), 400, "malformed_cell");
    await expectError(await post(`/relays/${relay.id}/cell`, { body: new Uint8Array([1, 99, ...new Uint8Array(16)]) }), 400, "unknown_command");
    const wrongLength = encodeCell({ command: CellCommand.RELAY, linkId: new Uint8Array(16), nonce: new Uint8Array(16), payload: new Uint8Array(700) });
    await expectError(await post(`/relays/${relay.id}/cell`, { body: wrongLength }), 400, "malformed_cell");
    const stray = encodeCell({ command: CellCommand.RELAY, linkId: new Uint8Array(16), nonce: new Uint8Array(16), payload: new Uint8Array(512) });
    await expectError(await post(`/relays/${relay.id}/cell`, { body: stray }), 404, "unknown_link");
    const badHandshake = encodeCell({ command: CellCommand.CREATE2, linkId: new Uint8Array(16), onionskin: new Uint8Array(96) });
    await expectError(await post(`/relays/${relay.id}/cell`, { body: badHandshake }), 400, "wrong_relay");
    await expectError(await post(`/relays/${relay.id}/cell`, { body: stray, headers: { "onion-neighbour": "<script>" } }), 400, "invalid_neighbour");
    expect(await relayStub(relay.id).tableCounts()).toEqual({ keys: 0, transfers: 0 });
  });

  it("retires a relay: it stops answering cells and its storage is erased", async () => {
    const relay = await addRelay();
    const retired = await worker().fetch(`http://relay.test/relays/${relay.id}`, { method: "DELETE", headers: ADMIN });
    expect(await retired.json()).toEqual({ id: relay.id, retired: true });
    await expectError(await worker().fetch(`http://relay.test/relays/${relay.id}`), 404, "unknown_relay");
    const create = encodeCell({ command: CellCommand.CREATE2, linkId: new Uint8Array(16), onionskin: new Uint8Array(96) });
    await expectError(await post(`/relays/${relay.id}/cell`, { body: create }), 404, "unknown_relay");
  });

  it("serves the browser page on GET and HEAD only: any other method on its files is a JSON 405", async () => {
    const page = await worker().fetch("http://relay.test/");
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
    expect((await worker().fetch("http://relay.test/app.js", { method: "HEAD" })).status).toBe(200);
    for (const path of ["/", "/index.html", "/app.js", "/style.css"]) {
      for (const method of ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"]) {
        const refused = await worker().fetch(`http://relay.test${path}`, { method });
        expect(refused.headers.get("allow")).toBe("GET, HEAD");
        await expectError(refused, 405, "method_not_allowed");
      }
    }
    await expectError(await worker().fetch("http://relay.test/no/such/path", { method: "TRACE" }), 404, "not_found");
  });

  it("serves each page file with its type, its security headers and a validator that answers a revalidation with 304", async () => {
    const types: Record<string, RegExp> = { "/": /^text\/html/, "/index.html": /^text\/html/, "/app.js": /^text\/javascript/, "/style.css": /^text\/css/ };
    for (const [path, type] of Object.entries(types)) {
      const page = await worker().fetch(`http://relay.test${path}`);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toMatch(type);
      expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
      expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      expect(page.headers.get("x-content-type-options")).toBe("nosniff");
      expect(page.headers.get("referrer-policy")).toBe("no-referrer");
      const body = await page.text();
      expect(body.length).toBeGreaterThan(100);
      const etag = page.headers.get("etag")!;
      expect(etag).toMatch(/^"[\w-]+"$/);
      const head = await worker().fetch(`http://relay.test${path}`, { method: "HEAD" });
      expect(head.headers.get("etag")).toBe(etag);
      expect(await head.text()).toBe("");
      const again = await worker().fetch(`http://relay.test${path}`, { headers: { "if-none-match": `"other", W/${etag}` } });
      expect(again.status).toBe(304);
      expect(await again.text()).toBe("");
      const any = await worker().fetch(`http://relay.test${path}`, { headers: { "if-none-match": "*" } });
      expect(any.status).toBe(304);
      const changed = await worker().fetch(`http://relay.test${path}`, { headers: { "if-none-match": '"other"' } });
      expect(changed.status).toBe(200);
      expect(await changed.text()).toBe(body);
    }
    // Each file its own validator: a cached app.js is not taken for the page.
    const tags = await Promise.all(["/", "/app.js", "/style.css"].map(async (path) => (await worker().fetch(`http://relay.test${path}`)).headers.get("etag")));
    expect(new Set(tags).size).toBe(3);
  });

  it("validates /fetch: URL, method and body size before touching the network", async () => {
    await expectError(await worker().fetch("http://relay.test/fetch"), 400, "invalid_url");
    await expectError(await worker().fetch("http://relay.test/fetch?url=/relative"), 400, "invalid_url");
    await expectError(await worker().fetch("http://relay.test/fetch?url=ftp://example.com/"), 400, "invalid_url");
    await expectError(await worker().fetch("http://relay.test/fetch?url=http://example.com/", { method: "OPTIONS" }), 405, "method_not_allowed");
    const big = new Uint8Array(8 * 1024 * 1024 + 1);
    await expectError(await worker().fetch("http://relay.test/fetch?url=http://example.com/", { method: "POST", body: big }), 413, "body_too_large");
  });

  it("answers /fetch with 503 when the directory cannot be reached", async () => {
    await expectError(await worker().fetch("http://relay.test/fetch?url=http://example.com/"), 503, "directory_unreachable");
  });

  it("answers unknown routes with a JSON 404", async () => {
    await expectError(await worker().fetch("http://relay.test/nope"), 404, "not_found");
  });
});
