// A real HTTP origin on loopback for the exit to fetch: it echoes what it received.

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";

export default async function setup(project: TestProject) {
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      if (request.url?.startsWith("/down/")) {
        response.writeHead(503).end("down");
        return;
      }
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
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
