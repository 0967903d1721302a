// A loopback reverse proxy that records every request it forwards: placed between the exit relay
// and the auth server, it shows exactly the bytes the exit sent.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Recorder {
  url: string;
  /** Method, path, headers and body of every request, as one string each. */
  seen: string[];
  close(): Promise<void>;
}

export async function startRecorder(target: string): Promise<Recorder> {
  const seen: string[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", async () => {
      const body = Buffer.concat(chunks);
      seen.push(`${request.method} ${request.url}\n${JSON.stringify(request.headers)}\n${body.toString("utf8")}`);
      const upstream = await fetch(`${target}${request.url}`, {
        method: request.method,
        headers: { "content-type": request.headers["content-type"] ?? "application/json", ...(request.headers.authorization ? { authorization: request.headers.authorization } : {}) },
        body: request.method === "GET" || request.method === "HEAD" ? undefined : body,
      });
      response.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" });
      response.end(Buffer.from(await upstream.arrayBuffer()));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
