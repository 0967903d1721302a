// Real HTTP servers on loopback for the relays under test:
// - an origin for the exit to fetch, which echoes what it received and counts what it was sent;
//   under /hang/ it never answers;
// - under /authority/<name>/, the directory authorities the relays pin: "slow" holds every request
//   and never answers; the others record every descriptor and answer 503 ("down", the default), 200
//   ("up"), or never ("stall"), as a test sets it; none serves a consensus;
// - under /tarpit/, a hostile relay: it completes CREATE2 with a real ntor handshake (so a client can
//   extend a circuit to it) and then never answers another cell.

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { type AddressInfo, type Server as TcpServer, createServer as createTcpServer } from "node:net";
import type { TestProject } from "vitest/node";
import {
  CellCommand,
  type Descriptor,
  decodeCell,
  encodeCell,
  fromHex,
  generateEd25519,
  generateX25519,
  ntorServer,
  relayIdFor,
  toBase64Url,
} from "@shallot/protocol";

declare module "vitest" {
  export interface ProvidedContext {
    originUrl: string;
    tarpit: Descriptor;
    /** TCP servers for streams: echo (answers what it reads), big (sends BIG_BYTES then closes), flood (never stops). */
    tcpPorts: { echo: number; big: number; flood: number };
    /** Bytes the flood server has written so far: its socket stalls once nobody reads. */
    floodUrl: string;
  }
}

type DirectoryMode = "down" | "up" | "stall";

/** Bytes the `big` TCP server sends: a 10 MiB download, byte for byte. */
export const BIG_BYTES = 10 * 1024 * 1024;
let floodState = () => 0;

const readBody = (request: IncomingMessage) =>
  new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks)));
  });

const json = (response: ServerResponse, status: number, body: unknown) => {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
};

/** Names a hostile DNS would resolve to non-public addresses (the production suite's egress and DoH use them). */
export const hostileNames: Record<string, string> = {
  "loopback.evil.test": "127.0.0.1",
  "loopback6.evil.test": "::1",
  "metadata.evil.test": "169.254.169.254",
  "lan.evil.test": "192.168.1.20",
  "mapped.evil.test": "::ffff:10.0.0.1",
  "unroutable.public.test": "192.0.2.10",
};

export default async function setup(project: TestProject) {
  const identity = await generateEd25519();
  const onion = await generateX25519();
  const tarpitId = await relayIdFor(identity.publicKey);
  let directoryMode: DirectoryMode = "down";
  /** Relay ids, in the order their pings reached authority "a". */
  const pings: string[] = [];
  /** Every descriptor an authority got: which authority, which relay, whether the request is still held. */
  const published: { authority: string; id: string; held: boolean }[] = [];
  let stalledPings = 0;
  const origin: Record<string, number> = {};
  const tarpit = { creates: 0, held: 0 };
  /** Answers we never send: kept so the sockets stay open (a tarpit, a stalled directory). */
  const held: ServerResponse[] = [];

  const server = createServer(async (request, response) => {
    const url = request.url ?? "/";
    const body = await readBody(request);
    if (url.startsWith("/control/")) {
      if (url === "/control/state") return json(response, 200, { pings, stalledPings, origin, tarpit });
      if (url === "/control/flood") return json(response, 200, { written: floodState() });
      const mode = /^\/control\/directory\/(down|up|stall)$/.exec(url)?.[1] as DirectoryMode | undefined;
      if (!mode) return json(response, 404, { error: "no_such_control" });
      directoryMode = mode;
      return json(response, 200, { mode });
    }
    if (url.startsWith("/dns-query?")) {
      // DNS-over-HTTPS (JSON) for the names the production suite makes hostile: what its exits resolve.
      const query = new URL(url, "http://x").searchParams;
      const address = hostileNames[query.get("name") ?? ""];
      const family = query.get("type") === "AAAA" ? 28 : 1;
      const answers = address && (address.includes(":") ? 28 : 1) === family ? [{ name: query.get("name"), type: family, data: address }] : [];
      response.writeHead(200, { "content-type": "application/dns-json" });
      return response.end(JSON.stringify({ Status: answers.length || address ? 0 : 3, Answer: answers }));
    }
    if (url.startsWith("/hang/")) return void held.push(response);
    if (url === "/authority/log") return json(response, 200, published);
    const authority = /^\/authority\/([a-z]+)\/(descriptors|consensus)/.exec(url);
    if (authority) {
      if (authority[2] === "consensus") return void response.writeHead(503).end("no consensus here");
      let id = "";
      try {
        id = JSON.parse(body.toString()).descriptor.id;
      } catch {}
      const entry = { authority: authority[1]!, id, held: authority[1] === "slow" };
      published.push(entry);
      if (entry.held) {
        request.socket.once("close", () => (entry.held = false));
        held.push(response);
        return;
      }
      if (authority[1] === "a") pings.push(id);
      if (directoryMode === "stall") {
        stalledPings++;
        held.push(response);
        return;
      }
      if (directoryMode === "up") return json(response, 200, { id, ttlMs: 30_000, pingIntervalMs: 10_000 });
      response.writeHead(503).end("down");
      return;
    }
    if (url === `/tarpit/relays/${tarpitId}/cell`) {
      let cell: ReturnType<typeof decodeCell>;
      try {
        cell = decodeCell(new Uint8Array(body));
      } catch {
        return json(response, 400, { error: "malformed_cell", message: "?" });
      }
      if (cell.command === CellCommand.CREATE2) {
        tarpit.creates++;
        const { reply } = await ntorServer(cell.onionskin, { relayId: fromHex(tarpitId), onionKey: onion });
        response.writeHead(200, { "content-type": "application/octet-stream" });
        response.end(encodeCell({ command: CellCommand.CREATED2, linkId: cell.linkId, reply }));
        return;
      }
      // Everything after the handshake: never answered.
      tarpit.held++;
      held.push(response);
      return;
    }
    origin[url] = (origin[url] ?? 0) + 1;
    // Answers no RESPONSE can carry: a status outside 200-599, or too many headers.
    // Answers broken on the wire: a malformed chunk, a body reset before its declared length.
    if (url === "/odd/bad-chunk") return void request.socket.end("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
    if (url === "/odd/short-body") {
      request.socket.write("HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789");
      return void setTimeout(() => request.socket.resetAndDestroy(), 50);
    }
    const odd = /^\/odd\/(status|headers)\/(\d+)$/.exec(url);
    if (odd) {
      const n = Number(odd[2]);
      if (odd[1] === "status") return void response.writeHead(n, { "content-type": "text/plain" }).end("odd");
      for (let i = 0; i < n; i++) response.setHeader(`x-h${i}`, "v");
      return void response.writeHead(200).end("odd");
    }
    response.writeHead(200, { "content-type": "application/json", "x-origin": "yes" });
    response.end(JSON.stringify({ method: request.method, url, headers: request.headers, bodyLength: body.length, body: body.toString("base64") }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const originUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  project.provide("originUrl", originUrl);
  project.provide("tarpit", {
    id: tarpitId,
    address: `${originUrl}/tarpit/relays/${tarpitId}`,
    onionKey: toBase64Url(onion.publicKey),
    identityKey: toBase64Url(identity.publicKey),
    published: Date.now(),
  });
  // TCP servers the exits' streams connect to.
  const big = Buffer.alloc(BIG_BYTES);
  for (let i = 0; i < big.length; i++) big[i] = Math.imul(i, 2654435761) >>> 24;
  let floodWritten = 0;
  const tcp: TcpServer[] = [
    createTcpServer((socket) => socket.on("error", () => {}).pipe(socket)),
    createTcpServer((socket) => {
      socket.on("error", () => {});
      socket.end(big);
    }),
    createTcpServer((socket) => {
      socket.on("error", () => {});
      const chunk = Buffer.alloc(64 * 1024, 1);
      const pump = () => {
        while (!socket.destroyed) {
          floodWritten += chunk.length;
          if (!socket.write(chunk)) return void socket.once("drain", pump);
        }
      };
      pump();
    }),
  ];
  await Promise.all(tcp.map((server) => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))));
  const [echo, bigPort, flood] = tcp.map((server) => (server.address() as AddressInfo).port) as [number, number, number];
  project.provide("tcpPorts", { echo, big: bigPort, flood });
  project.provide("floodUrl", `${originUrl}/control/flood`);
  floodState = () => floodWritten;

  return () =>
    new Promise<void>((resolve) => {
      for (const server of tcp) server.close();
      for (const response of held) response.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    });
}
