// `onion proxy`: a local HTTP forward proxy (absolute-form requests, as curl -x and http_proxy
// send them). Each request goes through a circuit built here by the protocol's onion proxy: one
// circuit reused for 10 s, a failed attempt sent again on a new circuit when the retry rule allows.

import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { CIRCUIT_HEADER, EXIT_METHODS, type ExitMethod, type HttpRequestMessage, NEW_CIRCUIT_HEADER, type OnionProxy, type OnionResponse, endToEndHeaders, forwardedRequestHeaders, isHttpUrl } from "@shallot/protocol";
import type { ProxyOptions } from "../args.ts";
import { resolveNetwork } from "../directory.ts";
import { CliError, describeFailure } from "../errors.ts";
import { cliOnionProxy } from "../onion-proxy.ts";
import { type Progress, formatMs, progressOn, shortId, write } from "../output.ts";
import { MAX_URL_LENGTH } from "../request.ts";

/** As the gateway's MAX_BODY_BYTES default. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

const CONNECT_REFUSED = {
  error: "connect_not_supported",
  message: "HTTPS tunnels (CONNECT) cannot go through a Shallot circuit: exits carry HTTP requests, not TCP streams. Send http:// URLs through this proxy (an https:// URL in absolute form works too: the exit makes the TLS connection).",
};

export async function runProxy(options: ProxyOptions): Promise<number> {
  const config = resolveNetwork(options);
  const progress = progressOn(process.stderr, options.verbosity);
  const proxy = cliOnionProxy(config, progress);
  const server = createProxyServer(proxy, progress);
  const address = await listen(server, options.host, options.port);
  const url = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
  await write(process.stdout, `onion proxy listening on ${url} (${config.authorities.length} directory authorities); use it with: curl -x ${url} http://…  or  http_proxy=${url}\n`);

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  progress.line("stopping: destroying the current circuit");
  server.close();
  server.closeAllConnections();
  await proxy.close();
  return 0;
}

function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE") reject(new CliError("address_in_use", `${host}:${port} is already in use; pick another --port`));
      else if (error.code === "EADDRNOTAVAIL") reject(new CliError("address_unavailable", `cannot listen on ${host}: no such local address`));
      else reject(new CliError("listen_failed", `cannot listen on ${host}:${port} (${error.code ?? error.message})`));
    });
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}

export function createProxyServer(proxy: OnionProxy, progress: Progress): Server {
  const server = createServer((request, response) => {
    handle(proxy, progress, request, response).catch((error: unknown) => {
      // Every expected failure is answered inside handle; this is the last resort.
      const failure = describeFailure(error);
      if (!response.headersSent) sendError(response, failure.status, failure.code, failure.message);
      else response.destroy();
    });
  });
  server.on("connect", (request: IncomingMessage, socket: Socket) => {
    progress.line(`CONNECT ${request.url} refused (501)`);
    const body = JSON.stringify(CONNECT_REFUSED);
    socket.on("error", () => {});
    socket.end(
      `HTTP/1.1 501 Not Implemented\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  return server;
}

function sendError(response: ServerResponse, status: number, error: string, message: string): void {
  const body = JSON.stringify({ error, message });
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  response.end(body);
}

/** The request body, or null past the limit. */
async function readBody(request: IncomingMessage, limit: number): Promise<Uint8Array<ArrayBuffer> | null> {
  const declared = Number(request.headers["content-length"] ?? 0);
  if (declared > limit) return null;
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > limit) return null;
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

/** Pairs of the request's headers as sent (rawHeaders keeps repeats and order). */
function headerPairs(request: IncomingMessage): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) pairs.push([request.rawHeaders[i]!, request.rawHeaders[i + 1]!]);
  return pairs;
}

async function handle(proxy: OnionProxy, progress: Progress, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const target = request.url ?? "";
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    return sendError(response, 400, "not_a_proxy_request", "This is an HTTP proxy: send absolute-form requests (curl -x http://127.0.0.1:8118 http://example.com/ or http_proxy=…).");
  }
  if (!isHttpUrl(target) || target.length > MAX_URL_LENGTH) return sendError(response, 400, "invalid_url", "Only http and https URLs (at most 8192 characters) can be fetched through a circuit.");
  const method = (request.method ?? "GET").toUpperCase();
  if (!(EXIT_METHODS as readonly string[]).includes(method)) {
    return sendError(response, 405, "method_not_allowed", `The method ${method} cannot be sent through a circuit; use ${EXIT_METHODS.join(", ")}.`);
  }
  const body = await readBody(request, MAX_BODY_BYTES);
  if (!body) return sendError(response, 413, "body_too_large", `The request body exceeds ${MAX_BODY_BYTES} bytes.`);
  // The user's own HTTP client chose these headers; only those exits forward cross the circuit.
  const message: HttpRequestMessage = { method: method as ExitMethod, url: new URL(target).href, headers: forwardedRequestHeaders(headerPairs(request)), body };

  const started = performance.now();
  let sent: OnionResponse;
  try {
    sent = await proxy.request(message, { fresh: request.headers[NEW_CIRCUIT_HEADER] === "1" });
  } catch (error) {
    return answerFailure(response, progress, message, error);
  }
  const { result, path } = sent;
  const elapsed = formatMs(performance.now() - started);
  if (!result.ok) {
    progress.line(`${method} ${message.url} → ${result.error.status} ${result.error.error} (${elapsed})`);
    response.setHeader(CIRCUIT_HEADER, path.join(","));
    return sendError(response, result.error.status, result.error.error, result.error.message);
  }
  const answer = result.response;
  progress.line(`${method} ${message.url} → ${answer.status} (${elapsed}, ${sent.reused ? "reused" : "new"} circuit ${path.map(shortId).join(",")})`);
  const grouped = new Map<string, string[]>();
  for (const [name, value] of endToEndHeaders(answer.headers)) grouped.set(name, [...(grouped.get(name) ?? []), value]);
  for (const [name, values] of grouped) response.setHeader(name, values.length === 1 ? values[0]! : values);
  response.setHeader(CIRCUIT_HEADER, path.join(","));
  const nullBody = method === "HEAD" || [204, 205, 304].includes(answer.status);
  if (!nullBody) response.setHeader("content-length", answer.body.length);
  try {
    response.writeHead(answer.status, answer.statusText || undefined);
  } catch {
    response.writeHead(answer.status);
  }
  response.end(nullBody ? undefined : answer.body);
}

function answerFailure(response: ServerResponse, progress: Progress, message: HttpRequestMessage, error: unknown): void {
  const failure = describeFailure(error);
  const status = failure.status >= 500 ? failure.status : 502;
  progress.line(`${message.method} ${message.url} → ${status} ${failure.code}: ${failure.message}`);
  sendError(response, status, failure.code, failure.message);
}
