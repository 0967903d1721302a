// Every refusal the workers send is JSON `{ error, message }`, whatever the method and the path,
// under `wrangler dev` as deployed: the browser page's files included, which the static assets
// answered with an empty 405 before the worker ran, and CONNECT, which wrangler's local proxy
// answered with a plain 500 before the mesh's front doors (scripts/dev-worker.mjs, scripts/front-door.mjs).

import { request } from "node:http";
import { connect } from "node:net";
import { describe, expect, inject, it } from "vitest";

const mesh = inject("mesh");
/** Every worker's port: the relay worker, each of the three authorities, the auth server. */
const WORKERS: [string, string][] = [["relay", mesh.urls.relay], ...mesh.urls.directories.map((url, i): [string, string] => [`authority ${i + 1}`, url]), ["auth", mesh.urls.auth]];
const METHODS = ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"];
const PATHS = ["/", "/index.html", "/app.js", "/style.css", "/no/such/route", "/relays", "/consensus", "/login"];

/** One request by node:http, which sends any method (fetch refuses TRACE). */
function send(url: string, method: string): Promise<{ status: number; type: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { method }, (incoming) => {
      let text = "";
      incoming.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
      incoming.on("end", () => resolve({ status: incoming.statusCode!, type: incoming.headers["content-type"], text }));
    });
    outgoing.on("error", reject);
    outgoing.end();
  });
}

/** A CONNECT request line, raw (node:http hands a CONNECT answer over as a tunnel). */
function connectRequest(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(`CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`));
    let answer = "";
    socket.setEncoding("utf8").on("data", (chunk: string) => (answer += chunk));
    socket.on("end", () => resolve(answer));
    socket.on("error", reject);
  });
}

describe("refusals are JSON", () => {
  it.each(WORKERS)("from the %s worker, for any method on any path", async (_, base) => {
    const answers: string[] = [];
    for (const method of METHODS) {
      for (const path of PATHS) {
        const { status, type, text } = await send(`${base}${path}`, method);
        if (status < 400) continue;
        let body: { error?: unknown; message?: unknown } | null = null;
        try {
          body = JSON.parse(text);
        } catch {}
        const fine = type?.startsWith("application/json") && typeof body?.error === "string" && typeof body?.message === "string";
        if (!fine) answers.push(`${method} ${path}: ${status} ${JSON.stringify(text.slice(0, 80))}`);
      }
    }
    expect(answers).toEqual([]);
  });

  it.each(WORKERS)("from the %s worker's port to a CONNECT, which no worker gets under wrangler dev", async (_, base) => {
    const answer = await connectRequest(base);
    expect(answer).toMatch(/^HTTP\/1\.1 405 /);
    expect(answer.toLowerCase()).toContain("\r\ncontent-type: application/json\r\n");
    expect(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4))).toMatchObject({ error: "method_not_allowed", message: expect.any(String) });
  });

  it("serves the page itself on GET, with its security headers", async () => {
    const page = await fetch(`${mesh.urls.relay}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(await page.text()).toMatch(/<html/i);
  });
});
