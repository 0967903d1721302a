// A real HTTP origin on loopback for the exit to fetch: it echoes what it received.

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";

export default async function setup(project: TestProject) {
  /** Descriptors the stand-in authorities received: which authority, which relay, and whether the request is still held. */
  const published: { authority: string; id: string; held: boolean }[] = [];
  const holding = new Set<() => void>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      if (request.url?.startsWith("/down/")) {
        response.writeHead(503).end("down");
        return;
      }
      // Stand-in authorities: /authority/<name>/descriptors takes a relay's descriptor; the one
      // named "slow" holds it and never answers (until the tests end).
      const authority = /^\/authority\/([a-z]+)\/(descriptors|consensus)/.exec(request.url ?? "");
      if (authority) {
        if (request.url === "/authority/log") return void response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(published));
        if (authority[2] === "consensus") return void response.writeHead(503).end("no consensus here");
        const id = (JSON.parse(Buffer.concat(chunks).toString() || "{}") as { descriptor?: { id?: string } }).descriptor?.id ?? "";
        const entry = { authority: authority[1]!, id, held: authority[1] === "slow" };
        published.push(entry);
        if (entry.held) {
          const release = () => {
            entry.held = false;
            response.destroy();
          };
          holding.add(release);
          request.socket.once("close", () => {
            entry.held = false;
            holding.delete(release);
          });
          return;
        }
        return void response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ id, ttlMs: 30_000, pingIntervalMs: 10_000 }));
      }
      if (request.url === "/authority/log") return void response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(published));
      const body = Buffer.concat(chunks);
      response.writeHead(200, {
        "content-type": "application/json",
        "x-origin": "yes",
      });
      response.end(JSON.stringify({ method: request.method, url: request.url, headers: request.headers, bodyLength: body.length, body: body.toString("base64") }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  project.provide("originUrl", `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  return () =>
    new Promise<void>((resolve) => {
      for (const release of holding) release();
      server.close(() => resolve());
    });
}
