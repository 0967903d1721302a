import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DeadlineSet, FORWARDED_REQUEST_HEADERS, utf8 } from "@shallot/protocol";
import { performExitRequest } from "./exit.ts";

const production = { allowPrivateDestinations: false, maxBodyBytes: 1024, exitTimeoutMs: 5_000, exitPolicy: "public" as const, exitPorts: "*" };
const origin = () => (env as unknown as Cloudflare.Env).ORIGIN_URL;

describe("the exit", () => {
  it("refuses loopback, private and link-local destinations under the production policy", async () => {
    for (const url of [`${origin()}/`, "http://10.0.0.1/", "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data", "http://[::1]/", "http://localhost/"]) {
      const result = await performExitRequest({ method: "GET", url, headers: [], body: new Uint8Array(0) }, production);
      expect(result, url).toMatchObject({ ok: false, error: { error: "destination_refused", status: 403 } });
    }
  });

  it("refuses a relay's routes, so no circuit runs inside another's REQUESTs", async () => {
    const allowed = { ...production, allowPrivateDestinations: true };
    const id = "ab".repeat(32);
    for (const path of [`/relays/${id}/cell`, `/base/relays/${id}/link`, `/relays/${id}`, `/RELAYS/${id.toUpperCase()}/cell`, `/relays/${id}%2Fcell`, `/relays%2F${id}/cell`, `/relays//${id}/cell`]) {
      const result = await performExitRequest({ method: "POST", url: `${origin()}${path}`, headers: [], body: new Uint8Array(0) }, allowed);
      expect(result, path).toMatchObject({ ok: false, error: { error: "destination_refused", status: 403 } });
    }
    expect(await performExitRequest({ method: "GET", url: `${origin()}/relays/not-a-relay`, headers: [], body: new Uint8Array(0) }, allowed)).toMatchObject({ ok: true });
  });

  it("refuses every destination when its exit policy is none (a relay without the Exit flag)", async () => {
    const result = await performExitRequest({ method: "GET", url: `${origin()}/ok`, headers: [], body: new Uint8Array(0) }, { ...production, allowPrivateDestinations: true, exitPolicy: "none" });
    expect(result).toMatchObject({ ok: false, error: { error: "destination_refused", status: 403 } });
  });

  it("fetches a loopback origin when the deployment allows private destinations", async () => {
    const result = await performExitRequest({ method: "GET", url: `${origin()}/ok`, headers: [], body: new Uint8Array(0) }, { ...production, allowPrivateDestinations: true });
    expect(result).toMatchObject({ ok: true, response: { status: 200 } });
  });

  it("forwards request headers by the allowlist only: nothing else reaches the origin, whatever its name", async () => {
    const allowed: [string, string][] = [...FORWARDED_REQUEST_HEADERS].map((name) => [name, name === "content-encoding" ? "identity" : `v-${name}`]);
    const identifying: [string, string][] = [
      ["x-forwarded-for", "10.1.2.3"], ["cf-connecting-ip", "10.1.2.3"], ["x-client-ip", "10.1.2.3"], ["client-ip", "10.1.2.3"], ["x-real-ip", "10.1.2.3"],
      ["true-client-ip", "10.1.2.3"], ["forwarded", "for=10.1.2.3"], ["via", "1.1 10.1.2.3"], ["x-originating-ip", "10.1.2.3"], ["x-my-address", "10.1.2.3"],
      ["referer", "http://10.1.2.3/"], ["accept-language", "fr-BE"], ["onion-new-circuit", "1"],
    ];
    const result = await performExitRequest(
      { method: "POST", url: `${origin()}/h`, headers: [...identifying, ...allowed], body: utf8("x") },
      { ...production, allowPrivateDestinations: true, maxBodyBytes: 1 << 20 },
    );
    if (!result.ok) throw new Error(result.error.message);
    const seen = JSON.parse(new TextDecoder().decode(result.response.body)).headers as Record<string, string>;
    for (const [name, value] of allowed) expect(seen[name], name).toBe(value);
    // What the exit's own fetch adds to carry the request: host, length, connection, its encodings,
    // and the runtime's cf-worker (it names the exit's deployment, which the origin sees anyway).
    const transport = new Set(["host", "content-length", "connection", "accept-encoding", "transfer-encoding", "cf-worker"]);
    expect(Object.keys(seen).filter((name) => !FORWARDED_REQUEST_HEADERS.has(name) && !transport.has(name))).toEqual([]);
    expect(JSON.stringify(seen)).not.toContain("10.1.2.3");
  });

  it("gives up on a destination that never answers with exit_timeout (504), on its own timer or on the relay's shared deadlines", async () => {
    const allowed = { ...production, allowPrivateDestinations: true, exitTimeoutMs: 300 };
    const hang = { method: "GET" as const, url: `${origin()}/hang/exit`, headers: [], body: new Uint8Array(0) };
    const deadlines = new DeadlineSet(Date.now);
    for (const result of await Promise.all([performExitRequest(hang, allowed), performExitRequest(hang, allowed, deadlines)])) {
      expect(result).toEqual({ ok: false, error: { error: "exit_timeout", message: "The destination did not answer in time.", status: 504 } });
    }
    expect(deadlines.armed).toBe(false);
  });

  it("answers response_unsupported for a response no RESPONSE can carry, instead of sealing one the client rejects", async () => {
    const allowed = { ...production, allowPrivateDestinations: true };
    const at = (path: string) => performExitRequest({ method: "GET", url: `${origin()}${path}`, headers: [], body: new Uint8Array(0) }, allowed);
    expect(await at("/odd/headers/300")).toMatchObject({ ok: false, error: { error: "response_unsupported", status: 502 } });
    // A status no Response can have does not reach the exit's code here (the local egress fails the
    // fetch); the exit's check of it is in the protocol's tests (isCarriableResponse).
    expect(await at("/odd/status/600")).toMatchObject({ ok: false, error: { error: "exit_fetch_failed", status: 502 } });
    expect(await at("/odd/headers/200")).toMatchObject({ ok: true, response: { status: 200 } });
    // Broken on the wire: a failed fetch, at once, never a whole answer or a wait for the deadline.
    const started = Date.now();
    for (const path of ["/odd/bad-chunk", "/odd/short-body"]) {
      expect(await at(path), path).toMatchObject({ ok: false, error: { error: "exit_fetch_failed", status: 502 } });
    }
    expect(Date.now() - started).toBeLessThan(production.exitTimeoutMs);
    expect(await at("/odd/status/599")).toMatchObject({ ok: true, response: { status: 599 } });
  });

  it("refuses a request body over the limit with 413 and a response over the limit with response_too_large", async () => {
    const allowed = { ...production, allowPrivateDestinations: true };
    const tooBig = await performExitRequest({ method: "POST", url: `${origin()}/`, headers: [], body: new Uint8Array(2048) }, allowed);
    expect(tooBig).toMatchObject({ ok: false, error: { error: "body_too_large", status: 413 } });
    const bigAnswer = await performExitRequest({ method: "POST", url: `${origin()}/`, headers: [], body: new Uint8Array(1000) }, allowed);
    expect(bigAnswer).toMatchObject({ ok: false, error: { error: "response_too_large" } });
  });
});
