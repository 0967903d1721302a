// Real HTTP servers on loopback for the relays under test:
// - an origin for the exit to fetch, which echoes what it received and counts what it was sent;
// - under /authority/<name>/, the directory authorities the relays pin: "slow" holds every request
//   and never answers; the others record every descriptor and answer 503 ("down", the default), 200
//   ("up"), or never ("stall"), as a test sets it; none serves a consensus;
// - under /tarpit/, a hostile relay: it completes CREATE2 with a real ntor handshake (so a client can
//   extend a circuit to it) and then never answers another cell.

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
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
  }
}

type DirectoryMode = "down" | "up" | "stall";

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
      const mode = /^\/control\/directory\/(down|up|stall)$/.exec(url)?.[1] as DirectoryMode | undefined;
      if (!mode) return json(response, 404, { error: "no_such_control" });
      directoryMode = mode;
      return json(response, 200, { mode });
    }
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
  return () =>
    new Promise<void>((resolve) => {
      for (const response of held) response.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    });
}
