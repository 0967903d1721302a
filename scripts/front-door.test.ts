// The dev mesh's front door: everything passes through untouched, except a CONNECT, refused in JSON.

import { request as httpRequest, createServer, type Server } from "node:http";
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from "node:net";
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

  it("answers a method the runtime's parser does not know in JSON, itself; known ones, however rare, pass", async () => {
    const before = connections;
    for (const [line, pieces] of [["FOO / HTTP/1.1", 1], ["BREW /pot HTTP/1.1", 6]] as const) {
      const answer = await raw(`${line}\r\nHost: x\r\nConnection: close\r\n\r\n`, pieces);
      expect(answer, line).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
      expect(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4))).toMatchObject({ error: "method_not_allowed", message: expect.stringContaining(line.split(" ")[0]!) });
    }
    // A method past the runtime's list however long, and a request line that is not HTTP at all.
    const long = await raw(`${"A".repeat(40)} / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(JSON.parse(long.slice(long.indexOf("\r\n\r\n") + 4))).toMatchObject({ error: "method_not_allowed" });
    for (const line of ["FOO\t/ HTTP/1.1", "X".repeat(100)]) {
      const answer = await raw(`${line}\r\nHost: x\r\n\r\n`);
      expect(answer, line).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4))).toMatchObject({ error: "bad_request", message: expect.any(String) });
    }
    expect(connections).toBe(before);
    await raw("PROPFIND / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(connections).toBe(before + 1);
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

  it("passes a WebSocket upgrade through byte for byte: the request, the 101, and every byte after it both ways", async () => {
    // A raw upstream, as wrangler's socket: it keeps the upgrade request's bytes as they came, answers
    // 101, sends 256 KiB of its own, and keeps whatever comes after the request.
    const fromUpstream = randomBytes(256 * 1024);
    const toUpstream = randomBytes(256 * 1024);
    let requestBytes = Buffer.alloc(0);
    let after = Buffer.alloc(0);
    const upstream = createTcpServer((socket) => {
      let upgraded = false;
      socket.on("data", (chunk: Buffer) => {
        if (upgraded) {
          after = Buffer.concat([after, chunk]);
          return;
        }
        requestBytes = Buffer.concat([requestBytes, chunk]);
        const end = requestBytes.indexOf("\r\n\r\n");
        if (end < 0) return;
        upgraded = true;
        after = requestBytes.subarray(end + 4);
        requestBytes = requestBytes.subarray(0, end + 4);
        const key = /^sec-websocket-key: (\S+)\r$/im.exec(requestBytes.toString("latin1"))![1];
        const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
        socket.write(fromUpstream);
      });
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    const wsDoor = await openFrontDoor({ port: 0, target: (upstream.address() as AddressInfo).port });
    const client: Socket = connect(wsDoor.port, "127.0.0.1");
    try {
      const request = `GET /link HTTP/1.1\r\nHost: 127.0.0.1:8787\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\nX-Odd:  two  spaces \r\n\r\n`;
      let answer = Buffer.alloc(0);
      client.on("data", (chunk: Buffer) => (answer = Buffer.concat([answer, chunk])));
      client.write(request);
      await expect.poll(() => answer.length, { timeout: 5_000 }).toBeGreaterThan(fromUpstream.length);
      const head = answer.indexOf("\r\n\r\n") + 4;
      expect(answer.subarray(0, head).toString()).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
      await expect.poll(() => answer.length - head, { timeout: 5_000 }).toBe(fromUpstream.length);
      expect(answer.subarray(head).equals(fromUpstream)).toBe(true);
      // What follows the upgrade, in pieces (one opens like a CONNECT: only a connection's first bytes are looked at).
      client.write(Buffer.from("CONNECT "));
      client.write(toUpstream);
      await expect.poll(() => after.length, { timeout: 5_000 }).toBe(toUpstream.length + 8);
      expect(requestBytes.toString("latin1")).toBe(request);
      expect(after.equals(Buffer.concat([Buffer.from("CONNECT "), toUpstream]))).toBe(true);
    } finally {
      client.destroy();
      await wsDoor.close();
      await new Promise<void>((r) => upstream.close(() => r()));
    }
  });

  it("carries a WebSocket conversation of Node's own WebSocket client", async () => {
    // A minimal echo server: the handshake, then each masked text frame (under 126 bytes) back unmasked.
    const upstream = createTcpServer((socket) => {
      let buffer = Buffer.alloc(0);
      let open = false;
      socket.on("data", (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        if (!open) {
          const end = buffer.indexOf("\r\n\r\n");
          if (end < 0) return;
          const key = /^sec-websocket-key: (\S+)\r$/im.exec(buffer.subarray(0, end).toString("latin1"))![1];
          const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
          socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
          buffer = buffer.subarray(end + 4);
          open = true;
        }
        while (buffer.length >= 6 && buffer.length >= 6 + (buffer[1]! & 0x7f)) {
          const length = buffer[1]! & 0x7f;
          const mask = buffer.subarray(2, 6);
          const payload = Buffer.from(buffer.subarray(6, 6 + length).map((byte, i) => byte ^ mask[i % 4]!));
          socket.write(Buffer.concat([Buffer.from([buffer[0]!, length]), payload]));
          buffer = buffer.subarray(6 + length);
        }
      });
      socket.on("error", () => {});
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    const wsDoor = await openFrontDoor({ port: 0, target: (upstream.address() as AddressInfo).port });
    try {
      const socket = new WebSocket(`ws://127.0.0.1:${wsDoor.port}/link`);
      const echoed = await new Promise<string>((resolve, reject) => {
        socket.onopen = () => socket.send("a cell, through the front door");
        socket.onmessage = (event) => resolve(String(event.data));
        socket.onerror = () => reject(new Error("the WebSocket failed"));
      });
      expect(echoed).toBe("a cell, through the front door");
      socket.close();
    } finally {
      await wsDoor.close();
      await new Promise<void>((r) => upstream.close(() => r()));
    }
  });

  it("asks its upstream() for each connection's socket, and ends a connection that gets none", async () => {
    const target = (origin.address() as AddressInfo).port;
    let asked = 0;
    let fail = false;
    const chooser = await openFrontDoor({
      port: 0,
      upstream: () => {
        asked++;
        return fail ? Promise.reject(new Error("no runtime")) : new Promise<Socket>((resolve, reject) => {
          const socket = connect(target, "127.0.0.1", () => resolve(socket));
          socket.once("error", reject);
        });
      },
    });
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(chooser.port, "127.0.0.1");
        let text = "";
        socket.on("data", (chunk) => (text += chunk));
        socket.on("end", () => resolve(text));
        socket.on("error", reject);
        socket.write("GET /chosen HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      });
      expect(answer).toContain('"path":"/chosen"');
      expect(asked).toBe(1);
      fail = true;
      const ended = await new Promise<string>((resolve) => {
        const socket = connect(chooser.port, "127.0.0.1");
        let text = "";
        socket.on("data", (chunk) => (text += chunk));
        socket.on("close", () => resolve(text));
        socket.on("error", () => {});
        socket.write("GET /none HTTP/1.1\r\nHost: x\r\n\r\n");
      });
      expect(ended).toBe("");
      expect(asked).toBe(2);
    } finally {
      await chooser.close();
    }
  });

  it("refuses to open on a port that is taken", async () => {
    await expect(openFrontDoor({ port: door.port, target: 1 })).rejects.toMatchObject({ code: "EADDRINUSE" });
  });
});
