// Serves a Fetch API handler over real HTTP on 127.0.0.1 (Node only): how tests put a TestRelayHost,
// or a stand-in authority, at a URL the workers can reach.

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface LoopbackServer {
  url: string;
  close(): Promise<void>;
}

export async function serveOnLoopback(handler: (request: Request) => Promise<Response>, port = 0): Promise<LoopbackServer> {
  const server = createServer(async (incoming, outgoing) => {
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    const headers = new Headers();
    for (const [name, value] of Object.entries(incoming.headers)) if (typeof value === "string") headers.set(name, value);
    const method = incoming.method ?? "GET";
    const request = new Request(`http://${incoming.headers.host ?? "127.0.0.1"}${incoming.url ?? "/"}`, { method, headers, body: method === "GET" || method === "HEAD" ? undefined : Buffer.concat(chunks) });
    let response: Response;
    try {
      response = await handler(request);
    } catch {
      response = Response.json({ error: "internal_error", message: "The test server failed." }, { status: 500 });
    }
    if (outgoing.destroyed) return;
    outgoing.writeHead(response.status, Object.fromEntries([...(response.headers as unknown as Iterable<[string, string]>)]));
    outgoing.end(Buffer.from(await response.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
