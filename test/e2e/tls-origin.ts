// Local origins for streams: an HTTPS server with a certificate from a CA the test made, a TCP
// recorder placed in front of it (the bytes an exit sends and receives, exactly), and plain TCP
// servers that close, flood or watch their connections.

import { createHash } from "node:crypto";
import { type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { type AddressInfo, type Server, type Socket, connect, createServer } from "node:net";
// @ts-expect-error -- plain ESM script shared with `npm run bench`
import { makeTestCa } from "../../scripts/test-ca.mjs";

export interface TestCa {
  caFile: string;
  ca: string;
  issue(names: { dns?: string[]; ip?: string[] }): { key: string; cert: string };
  dispose(): void;
}
export const newTestCa = (name?: string): TestCa => makeTestCa(name);

/** Byte `i` of every deterministic body here. */
export const patternByte = (i: number): number => Math.imul(i, 2654435761) >>> 24;
export function pattern(from: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = patternByte(from + i);
  return out;
}
export const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

export interface TlsOrigin {
  port: number;
  received: Seen[];
  /** TCP connections accepted so far. */
  connections: number;
  /** The 10 MiB body of GET /big. */
  big: Buffer;
  close(): Promise<void>;
}

const listen = async (server: Server | HttpsServer): Promise<number> => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
};
const closeServer = (server: Server | HttpsServer) =>
  new Promise<void>((resolve) => {
    server.close(() => resolve());
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
  });

/**
 * GET /small: a short text; GET /big: 10 MiB; GET /hold?n=N: answered once N such requests are
 * held open together; anything else: "ok". Every request is recorded once its body is in.
 */
export async function startTlsOrigin(certificate: { key: string; cert: string }): Promise<TlsOrigin> {
  const big = pattern(0, 10 * 1024 * 1024);
  const held: ServerResponse[] = [];
  const origin = { received: [] as Seen[], connections: 0, big } as TlsOrigin;
  const server = createHttpsServer({ ...certificate, noDelay: true }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      origin.received.push({ method: request.method!, url: request.url!, headers: request.headers, body: Buffer.concat(chunks) });
      const url = new URL(request.url!, "https://origin");
      if (url.pathname === "/small") return response.writeHead(200, { "content-type": "text/plain", "content-length": 14 }).end("hello over TLS");
      if (url.pathname === "/big") return response.writeHead(200, { "content-type": "application/octet-stream", "content-length": big.length }).end(big);
      if (url.pathname === "/hold") {
        held.push(response);
        if (held.length >= Number(url.searchParams.get("n"))) for (const waiting of held.splice(0)) waiting.writeHead(200, { "content-type": "text/plain", "content-length": 13 }).end("held together");
        return;
      }
      response.writeHead(200, { "content-type": "text/plain", "content-length": 2 }).end("ok");
    });
  });
  // Every TCP connection, whether its handshake succeeds or not.
  server.on("connection", () => origin.connections++);
  server.on("secureConnection", (socket) => socket.setNoDelay(true));
  origin.port = await listen(server);
  origin.close = () => closeServer(server);
  return origin;
}

export interface TcpRecorder {
  port: number;
  /** Everything that went toward the origin, and back, over all connections. */
  toOrigin: () => Buffer;
  fromOrigin: () => Buffer;
  close(): Promise<void>;
}

/** A TCP relay to 127.0.0.1:`target` keeping a copy of every byte each way. */
export async function startTcpRecorder(target: number): Promise<TcpRecorder> {
  const up: Buffer[] = [];
  const down: Buffer[] = [];
  const server = createServer((client) => {
    const upstream = connect(target, "127.0.0.1");
    client.on("data", (chunk: Buffer) => up.push(Buffer.from(chunk)));
    upstream.on("data", (chunk: Buffer) => down.push(Buffer.from(chunk)));
    client.pipe(upstream).on("error", () => client.destroy());
    upstream.pipe(client).on("error", () => upstream.destroy());
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  const port = await listen(server);
  return { port, toOrigin: () => Buffer.concat(up), fromOrigin: () => Buffer.concat(down), close: () => closeServer(server) };
}

export interface TcpServer {
  port: number;
  sockets: Socket[];
  close(): Promise<void>;
}

/** A plain TCP server running `onConnection` for each connection. */
export async function startTcpServer(onConnection: (socket: Socket) => void): Promise<TcpServer> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => {});
    onConnection(socket);
  });
  const port = await listen(server);
  return {
    port,
    sockets,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return closeServer(server);
    },
  };
}

/**
 * Writes the pattern as fast as the connection takes it (up to `limit` bytes), counting what TCP
 * accepted: `flushed` stops growing when nobody downstream reads.
 */
export function flood(socket: Socket, limit: number): { flushed: () => number } {
  let flushed = 0;
  let offset = 0;
  const chunkBytes = 64 * 1024;
  const next = () => {
    while (offset < limit && !socket.destroyed) {
      const chunk = pattern(offset, chunkBytes);
      offset += chunk.length;
      if (!socket.write(chunk, (error) => void (error || (flushed += chunk.length)))) return void socket.once("drain", next);
    }
    if (offset >= limit) socket.end();
  };
  next();
  return { flushed: () => flushed };
}

export interface TlsFront {
  port: number;
  /** Method and path of each request it forwarded. */
  seen: string[];
  connections: number;
  close(): Promise<void>;
}

/** An HTTPS front for an http:// service (the dev auth server): what an operator would deploy. */
export async function startTlsFront(certificate: { key: string; cert: string }, target: string): Promise<TlsFront> {
  const front = { seen: [] as string[], connections: 0 } as TlsFront;
  const server = createHttpsServer({ ...certificate, noDelay: true }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", async () => {
      front.seen.push(`${request.method} ${request.url}`);
      const upstream = await fetch(`${target}${request.url}`, { method: request.method, headers: { "content-type": String(request.headers["content-type"] ?? "") }, body: request.method === "GET" ? undefined : Buffer.concat(chunks) });
      const body = Buffer.from(await upstream.arrayBuffer());
      response.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/octet-stream", "content-length": body.length }).end(body);
    });
  });
  server.on("connection", () => front.connections++);
  front.port = await listen(server);
  front.close = () => closeServer(server);
  return front;
}
