// HTTPS through a stream: node:http speaks HTTP/1.1 over TLS that runs here (tls.ts), on a TCP
// connection the exit opened to the origin's host and port. The exit sees the host, the port and
// ciphertext; the URL, the headers and the bodies exist in the clear only here and at the origin.

import { Agent, type ClientRequestArgs, type IncomingMessage, request as httpRequest } from "node:http";
import type { Duplex } from "node:stream";
import type { SecureContext, TLSSocket } from "node:tls";
import type { OnionProxy } from "@shallot/protocol";
import { connectTls } from "./tls.ts";
import { streamSocket } from "./stream-socket.ts";

export const HTTPS_PORT = 443;

/** A stream to the URL's host and port (the exit resolves the name), with TLS verified over it. */
export async function openTlsStream(proxy: OnionProxy, url: URL, context: SecureContext, isolation = ""): Promise<{ socket: TLSSocket; path: string[] }> {
  const port = url.port === "" ? HTTPS_PORT : Number(url.port);
  const { stream, path } = await proxy.openStream(url.hostname, port, { isolation });
  const raw = streamSocket(stream);
  try {
    return { socket: await connectTls(raw, url.hostname, context), path };
  } catch (error) {
    raw.destroy();
    throw error;
  }
}

/**
 * node:http's connection pool for one https origin, each connection a TLS stream through a
 * circuit: requests in turn on one kept-alive connection (register and login POST several times).
 */
export class StreamAgent extends Agent {
  private readonly connect: () => Promise<Duplex>;

  constructor(connect: () => Promise<Duplex>) {
    super({ keepAlive: true, maxSockets: 1 });
    this.connect = connect;
    // So the Host header leaves out :443, as for any https URL.
    (this as { defaultPort?: number }).defaultPort = HTTPS_PORT;
  }

  override createConnection(_options: ClientRequestArgs, callback?: (error: Error | null, socket: Duplex) => void): undefined {
    this.connect().then(
      (socket) => callback?.(null, socket),
      (error: Error) => callback?.(error, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

export interface HttpsRequest {
  method: string;
  headers: [string, string][];
  body?: Uint8Array;
}

/** Sends one request on `agent` for `url`; resolves with the response head, its body still to read. */
export function sendHttps(agent: StreamAgent, url: URL, message: HttpsRequest): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of message.headers) {
      const key = name.toLowerCase();
      const previous = headers[key];
      headers[key] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
    }
    if (message.body && message.body.length > 0) headers["content-length"] = String(message.body.length);
    const request = httpRequest({
      agent,
      host: url.hostname.replace(/^\[|\]$/g, ""),
      port: url.port === "" ? HTTPS_PORT : Number(url.port),
      path: `${url.pathname}${url.search}`,
      method: message.method,
      headers,
    });
    request.once("response", resolve);
    request.once("error", reject);
    request.end(message.body && message.body.length > 0 ? message.body : undefined);
  });
}
