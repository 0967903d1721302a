// The dev mesh's front door: everything passes through untouched, except a CONNECT, refused in JSON.

import { request as httpRequest, createServer, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error -- plain ESM script shared with `npm run dev`
import { openFrontDoor } from "./front-door.mjs";

let origin: Server;
let door: { port: number; close(): Promise<void> };
let connections = 0;

beforeAll(async () => {
  // Stands for a wrangler: echoes the method, the path and the body's digest.
  origin = createServer((request, response) => {
    const digest = createHash("sha256");
    request.on("data", (chunk) => digest.update(chunk));
    request.on("end", () => response.end(JSON.stringify({ method: request.method, path: request.url, host: request.headers.host, sha256: digest.digest("hex") })));
  });
  origin.on("connection", () => connections++);
  await new Promise<void>((r) => origin.listen(0, "127.0.0.1", r));
  door = await openFrontDoor({ port: 0, target: (origin.address() as AddressInfo).port });
});
afterAll(async () => {
  await door.close();
  await new Promise<void>((r) => origin.close(() => r()));
});

/** Sends raw bytes, returns everything that came back until the server closed. */
function raw(bytes: string | Buffer, pieces = 1): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(door.port, "127.0.0.1");
    let answer = "";
    socket.on("data", (chunk) => (answer += chunk));
    socket.on("end", () => resolve(answer));
    socket.on("error", reject);
    const buffer = Buffer.from(bytes);
    const size = Math.ceil(buffer.length / pieces);
    let at = 0;
    const next = () => {
      socket.write(buffer.subarray(at, at + size));
      at += size;
      if (at < buffer.length) setTimeout(next, 10);
    };
    next();
  });
}

describe("the front door", () => {
  it("answers CONNECT itself, in JSON, and never passes it on — also when its first bytes come apart", async () => {
    const before = connections;
    for (const pieces of [1, 8]) {
      const answer = await raw("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", pieces);
      expect(answer).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
      expect(answer).toMatch(/\r\ncontent-type: application\/json\r\n/);
      expect(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4))).toMatchObject({ error: "method_not_allowed", message: expect.stringMatching(/\w/) });
    }
    expect(connections).toBe(before);
  });

  it("passes any other request through byte for byte, the Host header and a 1 MiB body included", async () => {
    const body = randomBytes(1024 * 1024);
    const answer = await new Promise<string>((resolve, reject) => {
      const outgoing = httpRequest({ port: door.port, host: "127.0.0.1", method: "POST", path: "/fetch?url=x", headers: { host: "127.0.0.1:8787" } }, (incoming) => {
        let text = "";
        incoming.on("data", (chunk) => (text += chunk));
        incoming.on("end", () => resolve(text));
      });
      outgoing.on("error", reject);
      outgoing.end(body);
    });
    expect(JSON.parse(answer)).toEqual({ method: "POST", path: "/fetch?url=x", host: "127.0.0.1:8787", sha256: createHash("sha256").update(body).digest("hex") });
  });

  it("keeps a connection alive across requests", async () => {
    const answer = await raw("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(answer.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
    expect(answer).toContain('"path":"/a"');
    expect(answer).toContain('"path":"/b"');
  });

  it("refuses to open on a port that is taken", async () => {
    await expect(openFrontDoor({ port: door.port, target: 1 })).rejects.toMatchObject({ code: "EADDRINUSE" });
  });
});
