// A loopback HTTP origin that records what it received and answers what the test tells it to.

import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** The one port the e2e mesh's exits refuse, as Tor's default exit policy refuses SMTP. */
export const REFUSED_PORT = 25;
/**
 * EXIT_PORTS of every relay the e2e tests start (global-setup.ts, deployment.ts): local origins
 * listen on ports of every kind, and streams.test.ts needs one port the policy refuses.
 */
export const E2E_EXIT_PORTS = `1-${REFUSED_PORT - 1},${REFUSED_PORT + 1}-65535`;

export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

export interface Origin {
  url: string;
  received: Received[];
  /** What the next requests are answered with (default: 200 "hello from the origin"). */
  answer: { status: number; headers: Record<string, string>; body: Buffer };
  close(): Promise<void>;
}

export async function startOrigin(): Promise<Origin> {
  const received: Received[] = [];
  const origin = { received, answer: { status: 200, headers: { "content-type": "text/plain" }, body: Buffer.from("hello from the origin") } } as Origin;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      received.push({ method: request.method!, url: request.url!, headers: request.headers, body: Buffer.concat(chunks) });
      response.writeHead(origin.answer.status, origin.answer.headers);
      response.end(request.method === "HEAD" ? undefined : origin.answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  origin.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return origin;
}

/** A loopback port nobody listens on right now (for a process the test starts). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
