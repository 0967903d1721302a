// Every refusal the workers send is JSON `{ error, message }`, whatever the method and the path,
// under `wrangler dev` as deployed: the browser page's files included, which the static assets
// answered with an empty 405 before the worker ran.

import { request } from "node:http";
import { describe, expect, inject, it } from "vitest";

const mesh = inject("mesh");
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

describe("refusals are JSON", () => {
  it.each(["relay", "directory", "auth"] as const)("from the %s worker, for any method on any path", async (worker) => {
    const answers: string[] = [];
    for (const method of METHODS) {
      for (const path of PATHS) {
        const { status, type, text } = await send(`${mesh.urls[worker]}${path}`, method);
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

  it("serves the page itself on GET, with its security headers", async () => {
    const page = await fetch(`${mesh.urls.relay}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(await page.text()).toMatch(/<html/i);
  });
});
