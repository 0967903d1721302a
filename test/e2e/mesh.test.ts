import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { consensusDocument, consensusWhere } from "./network.ts";
import { type Origin, startOrigin } from "./origin.ts";

const mesh = inject("mesh");
let origin: Origin;

const gateway = (target: string, init?: RequestInit) => fetch(`${mesh.urls.relay}/fetch?url=${encodeURIComponent(target)}`, init);
const consensusIds = async () => (await consensusDocument(mesh)).relays.map((r) => r.id);

beforeAll(async () => {
  origin = await startOrigin();
});

afterAll(async () => {
  await origin?.close();
});

describe("the local mesh, end to end", () => {
  it("answers a GET through a circuit of three distinct live relays with exactly what the origin sent", async () => {
    origin.answer = { status: 200, headers: { "content-type": "text/plain", "x-origin-header": "kept" }, body: Buffer.from("hello through three relays") };
    const before = origin.received.length;
    const response = await gateway(`${origin.url}/hello?q=1`, { headers: { authorization: "Bearer sent-by-the-client" } });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("hello through three relays");
    expect(response.headers.get("x-origin-header")).toBe("kept");
    const path = response.headers.get("onion-circuit")!.split(",");
    expect(new Set(path).size).toBe(3);
    const live = await consensusIds();
    for (const id of path) expect(live).toContain(id);
    const seen = origin.received[before]!;
    expect(seen).toMatchObject({ method: "GET", url: "/hello?q=1" });
    expect(seen.headers.authorization).toBe("Bearer sent-by-the-client");
  });

  it("carries a 1 MiB binary POST body to the origin and a 1 MiB answer back, byte for byte", async () => {
    const sent = randomBytes(1024 * 1024);
    const answer = randomBytes(1024 * 1024);
    origin.answer = { status: 201, headers: { "content-type": "application/octet-stream" }, body: answer };
    const before = origin.received.length;
    const response = await gateway(`${origin.url}/upload`, { method: "POST", body: sent, headers: { "content-type": "application/octet-stream" } });
    expect(response.status).toBe(201);
    const got = Buffer.from(await response.arrayBuffer());
    const seen = origin.received[before]!;
    expect(seen.method).toBe("POST");
    expect(seen.body.equals(sent)).toBe(true);
    expect(got.equals(answer)).toBe(true);
  });

  it("performs PUT, PATCH, DELETE and HEAD", async () => {
    origin.answer = { status: 200, headers: { "content-type": "text/plain" }, body: Buffer.from("ok") };
    for (const method of ["PUT", "PATCH", "DELETE", "HEAD"]) {
      const before = origin.received.length;
      const response = await gateway(`${origin.url}/m`, { method, body: method === "HEAD" || method === "DELETE" ? undefined : `body of ${method}` });
      expect(response.status, method).toBe(200);
      expect(await response.text()).toBe(method === "HEAD" ? "" : "ok");
      expect(origin.received[before]!.method).toBe(method);
    }
  });

  it("reuses a circuit for a short window and builds a new one on onion-new-circuit: 1, entering through its guard", async () => {
    const first = (await gateway(`${origin.url}/a`)).headers.get("onion-circuit");
    const second = (await gateway(`${origin.url}/b`)).headers.get("onion-circuit");
    expect(second).toBe(first);
    // A fresh circuit picks a fresh path after the guard; five in a row all equal to the old one is ~1e-5.
    const fresh = [];
    for (let i = 0; i < 5; i++) fresh.push((await gateway(`${origin.url}/c`, { headers: { "onion-new-circuit": "1" } })).headers.get("onion-circuit")!);
    expect(fresh.some((path) => path !== first)).toBe(true);
    // Circuits built now enter through one guard, the first of the gateway's guards that is usable.
    // The first two fresh requests take the two spares, which may have been built before this test
    // through another of its guards (while the first was down, in an earlier test); the rest ride
    // on spares built behind them, during this test.
    expect(new Set(fresh.slice(2).map((path) => path.split(",")[0])).size).toBe(1);
  });

  it("answers new-circuit requests in full, each on a circuit built ahead of time, the next spare built once the answer is out", async () => {
    const answer = randomBytes(300 * 1024);
    origin.answer = { status: 200, headers: { "content-type": "application/octet-stream" }, body: answer };
    // Back to back: with two spares, the third and fourth find one only if the spares used before
    // them were rebuilt once their answers went out (not only after the 2 s fallback).
    for (let i = 0; i < 4; i++) {
      const response = await gateway(`${origin.url}/fresh-${i}`, { headers: { "onion-new-circuit": "1" } });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-length")).toBe(String(answer.length));
      expect(Buffer.from(await response.arrayBuffer()).equals(answer)).toBe(true);
      expect(response.headers.get("server-timing"), `request ${i}`).toContain('circuit-build;dur=');
      expect(response.headers.get("server-timing"), `request ${i}`).toContain('desc="ahead of time"');
    }
  });

  it("reports an unreachable origin as a JSON error from the exit", async () => {
    const response = await gateway("http://127.0.0.1:9/nothing-listens-here");
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ error: "exit_fetch_failed" });
  });

  it("refuses bad input with a JSON error and goes on serving", async () => {
    const bad = await fetch(`${mesh.urls.relay}/fetch?url=not-a-url`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: "invalid_url" });
    const good = await gateway(`${origin.url}/after-bad`);
    expect(good.status).toBe(200);
  });

  it("retires a relay: it leaves the consensus within a round and circuits avoid it", async () => {
    // A relay of this deployment (the mesh also runs a second one).
    const listed = (await consensusDocument(mesh)).relays;
    const victim = listed.find((r) => r.address.startsWith(`${mesh.urls.relay}/relays/`))!.id;
    const retired = await fetch(`${mesh.urls.relay}/relays/${victim}`, { method: "DELETE", headers: { authorization: `Bearer ${mesh.adminToken}` } });
    expect(retired.status).toBe(200);
    // Every authority drops it at once from its votes; the next consensus leaves it out.
    await consensusWhere(mesh, (document) => !document.relays.some((r) => r.id === victim));
    // The gateway refreshes its consensus within seconds; new circuits no longer use the relay.
    await new Promise((r) => setTimeout(r, 5_500));
    for (let i = 0; i < 4; i++) {
      const response = await gateway(`${origin.url}/avoid`, { headers: { "onion-new-circuit": "1" } });
      expect(response.status).toBe(200);
      expect(response.headers.get("onion-circuit")).not.toContain(victim);
    }
    // In its place, a new relay (other test files count each deployment's relays).
    expect((await fetch(`${mesh.urls.relay}/relays`, { method: "POST", headers: { authorization: `Bearer ${mesh.adminToken}` } })).status).toBe(201);
  });

  it("serves the origin's answer without cookies or preloads, sandboxed, and sends redirects back through the gateway", async () => {
    origin.answer = {
      status: 302,
      headers: {
        location: "/next?x=1",
        "set-cookie": "session=abc",
        link: "<https://tracker.example/>; rel=preload",
        nel: '{"report_to":"t","max_age":86400}',
        "report-to": '{"group":"t","max_age":86400,"endpoints":[{"url":"https://tracker.example/r"}]}',
        "clear-site-data": '"*"',
        "strict-transport-security": "max-age=31536000; includeSubDomains",
        "access-control-allow-origin": "*",
        "content-type": "text/html",
      },
      body: Buffer.from("<p>moved</p>"),
    };
    const response = await gateway(`${origin.url}/start`, { redirect: "manual" });
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe(`${mesh.urls.relay}/fetch?url=${encodeURIComponent(`${origin.url}/next?x=1`)}`);
    expect(response.headers.get("set-cookie")).toBeNull();
    expect(response.headers.get("link")).toBeNull();
    for (const name of ["nel", "report-to", "clear-site-data", "strict-transport-security", "access-control-allow-origin"]) expect(response.headers.get(name), name).toBeNull();
    expect(response.headers.get("content-security-policy")).toBe("sandbox; default-src 'none'");
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
  });
});
