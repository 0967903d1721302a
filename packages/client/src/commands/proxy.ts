// `onion proxy`: a local HTTP forward proxy and a SOCKS5 port, both carrying traffic through
// circuits built here by the protocol's onion proxy.
// - CONNECT (curl -x, HTTPS_PROXY, browsers) and SOCKS5 open a stream: the exit connects to the
//   host and port and relays bytes it cannot read (TLS runs between the program and the origin).
// - An absolute-form request (http_proxy) is sent as one REQUEST the exit performs itself: one
//   circuit reused for 10 s, a failed attempt sent again on a new circuit when the retry rule allows.

import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import { type AddressInfo, type Server as TcpServer, type Socket, createServer as createTcpServer } from "node:net";
import { CIRCUIT_HEADER, EXIT_METHODS, type ExitMethod, type HttpRequestMessage, NEW_CIRCUIT_HEADER, type OnionProxy, type OnionResponse, endToEndHeaders, forwardedRequestHeaders, isHttpUrl } from "@shallot/protocol";
import type { ProxyOptions } from "../args.ts";
import { resolveNetwork } from "../directory.ts";
import { CliError, describeFailure } from "../errors.ts";
import { whenLauncherEnds } from "../launcher.ts";
import { cliOnionProxy } from "../onion-proxy.ts";
import { type Progress, formatMs, progressOn, shortId, write } from "../output.ts";
import { MAX_URL_LENGTH } from "../request.ts";
import { parseAuthority } from "../streams/host.ts";
import { SocksReply, describeRefusal } from "../streams/refusal.ts";
import { SocksFailure, negotiate, socketBytes, socksReply } from "../streams/socks.ts";
import { splice } from "../streams/tunnel.ts";

/** As the gateway's MAX_BODY_BYTES default. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;
/** A SOCKS client has this long to finish its handshake. */
export const SOCKS_HANDSHAKE_MS = 30_000;

export async function runProxy(options: ProxyOptions): Promise<number> {
  const config = resolveNetwork(options);
  const progress = progressOn(process.stderr, options.verbosity);
  const proxy = cliOnionProxy(config, progress);
  const tunnels = new Set<Socket>();
  const servers: (Server | TcpServer)[] = [];
  try {
    if (options.port !== null) {
      const server = createProxyServer(proxy, progress, tunnels);
      servers.push(server);
      const url = `http://${hostPart(await listen(server, options.host, options.port, "--port"))}`;
      await write(process.stdout, `onion proxy listening on ${url} (${config.authorities.length} directory authorities); use it with: curl -x ${url} https://…  or  HTTPS_PROXY=${url}  or  http_proxy=${url}\n`);
    }
    if (options.socksPort !== null) {
      const server = createSocksServer(proxy, progress, tunnels);
      servers.push(server);
      const url = `socks5h://${hostPart(await listen(server, options.host, options.socksPort, "--socks-port"))}`;
      await write(process.stdout, `onion proxy SOCKS5 listening on ${url} (${config.authorities.length} directory authorities); use it with: curl --socks5-hostname ${url.slice("socks5h://".length)} https://…  or  ALL_PROXY=${url}\n`);
    }
  } catch (error) {
    for (const server of servers) server.close();
    await proxy.close();
    throw error;
  }

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    // Started by npx: stops with it, rather than holding the port with nobody left to stop it.
    whenLauncherEnds(stop);
  });
  progress.line("stopping: closing the connections and destroying the circuits");
  for (const server of servers) {
    server.close();
    if ("closeAllConnections" in server) server.closeAllConnections();
  }
  for (const socket of tunnels) socket.destroy();
  await proxy.close();
  return 0;
}

const hostPart = (address: AddressInfo) => `${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;

function listen(server: Server | TcpServer, host: string, port: number, option: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE") reject(new CliError("address_in_use", `${host}:${port} is already in use; pick another ${option}`));
      else if (error.code === "EADDRNOTAVAIL") reject(new CliError("address_unavailable", `cannot listen on ${host}: no such local address`));
      else reject(new CliError("listen_failed", `cannot listen on ${host}:${port} (${error.code ?? error.message})`));
    });
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}

export function createProxyServer(proxy: OnionProxy, progress: Progress, tunnels: Set<Socket> = new Set()): Server {
  const server = createServer((request, response) => {
    handle(proxy, progress, request, response).catch((error: unknown) => {
      // Every expected failure is answered inside handle; this is the last resort.
      const failure = describeFailure(error);
      if (!response.headersSent) sendError(response, failure.status, failure.code, failure.message);
      else response.destroy();
    });
  });
  server.on("connect", (request: IncomingMessage, socket: Socket, head: Buffer) => {
    tunnels.add(socket);
    socket.once("close", () => tunnels.delete(socket));
    socket.on("error", () => {});
    void connectTunnel(proxy, progress, request, socket, head);
  });
  return server;
}

/** CONNECT host:port: a stream through a circuit of the request's isolation key, then bytes both ways. */
async function connectTunnel(proxy: OnionProxy, progress: Progress, request: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
  const authority = request.url ?? "";
  const refuse = (status: number, error: string, message: string, extra = "") => {
    const body = JSON.stringify({ error, message });
    socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "Error"}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n${extra}\r\n${body}`);
  };
  const target = parseAuthority(authority);
  if (!target) {
    progress.line(`CONNECT ${authority.slice(0, 300)} → 400 invalid_target`);
    return refuse(400, "invalid_target", "CONNECT needs host:port (a host name, an IPv4 address or a bracketed IPv6 address, and a port from 1 to 65535).");
  }
  const shown = `${target.host}:${target.port}`;
  // Proxy-Authorization plays the part of SOCKS credentials: it chooses the circuit, and is never checked or sent on.
  const isolation = JSON.stringify(["connect", request.headers["proxy-authorization"] ?? null]);
  const started = performance.now();
  let opened: Awaited<ReturnType<OnionProxy["openStream"]>>;
  try {
    opened = await proxy.openStream(target.host, target.port, { isolation });
  } catch (error) {
    const refusal = describeRefusal(error, shown);
    progress.line(`CONNECT ${shown} → ${refusal.status} ${refusal.error}: ${refusal.message}`);
    return refuse(refusal.status, refusal.error, refusal.message);
  }
  const { stream, path } = opened;
  if (socket.destroyed) {
    // The program gave up while the stream opened.
    await stream.end().catch(() => {});
    return;
  }
  progress.line(`CONNECT ${shown} → 200 (${formatMs(performance.now() - started)}, circuit ${path.map(shortId).join(",")})`);
  socket.write(`HTTP/1.1 200 Connection Established\r\n${CIRCUIT_HEADER}: ${path.join(",")}\r\n\r\n`);
  await splice(socket, stream, head);
}

const STATUS_TEXT: Record<number, string> = { 400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout" };

/** The SOCKS5 port: a handshake, a stream through a circuit of the credentials' isolation key, bytes both ways. */
export function createSocksServer(proxy: OnionProxy, progress: Progress, tunnels: Set<Socket> = new Set()): TcpServer {
  return createTcpServer({ noDelay: true }, (socket) => {
    tunnels.add(socket);
    socket.once("close", () => tunnels.delete(socket));
    socket.on("error", () => {});
    void socksSession(proxy, progress, socket);
  });
}

async function socksSession(proxy: OnionProxy, progress: Progress, socket: Socket): Promise<void> {
  const bytes = socketBytes(socket);
  const timer = setTimeout(() => socket.destroy(), SOCKS_HANDSHAKE_MS);
  let request: Awaited<ReturnType<typeof negotiate>>;
  try {
    request = await negotiate(bytes.take, (reply) => void socket.write(reply));
  } catch (error) {
    clearTimeout(timer);
    if (error instanceof SocksFailure) {
      progress.line(`SOCKS → ${error.reply === null ? "closed" : `reply ${error.reply}`}: ${error.message}`);
      if (error.reply !== null) socket.end(socksReply(error.reply));
      else if (error.answer) socket.end(error.answer);
      else socket.end();
    } else socket.destroy();
    return;
  }
  clearTimeout(timer);
  const shown = `${request.host}:${request.port}`;
  const started = performance.now();
  let opened: Awaited<ReturnType<OnionProxy["openStream"]>>;
  try {
    opened = await proxy.openStream(request.host, request.port, { isolation: request.isolation });
  } catch (error) {
    const refusal = describeRefusal(error, shown);
    progress.line(`SOCKS ${shown} → reply ${refusal.socks}: ${refusal.message}`);
    socket.end(socksReply(refusal.socks));
    return;
  }
  const { stream, path } = opened;
  if (socket.destroyed) {
    await stream.end().catch(() => {});
    return;
  }
  progress.line(`SOCKS ${shown} → reply ${SocksReply.SUCCEEDED} (${formatMs(performance.now() - started)}, circuit ${path.map(shortId).join(",")})`);
  socket.write(socksReply(SocksReply.SUCCEEDED));
  // Bytes the program sent before the reply (optimistic data) go first.
  await splice(socket, stream, bytes.rest());
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
