// The README's origin: every method answered with what reached it, the body digested, not stored.

import { createHash, randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error -- plain ESM script (`npm run origin`)
import { createOrigin } from "./origin.mjs";

let server: Server;
let base: string;
const logged: string[] = [];

beforeAll(async () => {
  server = createOrigin({ log: (line: string) => logged.push(line) });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

interface Echo {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: { bytes: number; sha256: string };
}
const echoOf = async (response: Response) => (await response.json()) as Echo;

describe("npm run origin", () => {
  it.each(["POST", "PUT", "PATCH"])("answers %s with the body's length and SHA-256, as it arrived", async (method) => {
    const body = randomBytes(70_000);
    const response = await fetch(`${base}/upload?x=1`, { method, body, headers: { "content-type": "image/jpeg" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    const echo = await echoOf(response);
    expect(echo).toMatchObject({ method, path: "/upload?x=1", body: { bytes: body.length, sha256: sha256(body) } });
    expect(echo.headers["content-type"]).toBe("image/jpeg");
  });

  it("digests an 8 MiB body as it streams in", async () => {
    const body = randomBytes(8 * 1024 * 1024);
    const echo = await echoOf(await fetch(`${base}/big`, { method: "POST", body }));
    expect(echo.body).toEqual({ bytes: body.length, sha256: sha256(body) });
  });

  it("shows every request header it received", async () => {
    const echo = await echoOf(await fetch(`${base}/`, { headers: { authorization: "Bearer mine", "x-forwarded-for": "10.1.2.3" } }));
    expect(echo).toMatchObject({ method: "GET", path: "/", body: { bytes: 0, sha256: sha256(new Uint8Array()) } });
    expect(echo.headers).toMatchObject({ authorization: "Bearer mine", "x-forwarded-for": "10.1.2.3" });
  });

  it("answers HEAD and DELETE too, HEAD without a body", async () => {
    const head = await fetch(`${base}/thing`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    expect(Number(head.headers.get("content-length"))).toBeGreaterThan(0);
    expect((await echoOf(await fetch(`${base}/thing`, { method: "DELETE" }))).method).toBe("DELETE");
  });

  it("logs one line per request: method, path and body length, never a header or the body", async () => {
    logged.length = 0;
    await (await fetch(`${base}/logged`, { method: "POST", body: "secret body", headers: { authorization: "Bearer hidden" } })).text();
    expect(logged).toEqual(["POST /logged (11 bytes in)"]);
  });
});
