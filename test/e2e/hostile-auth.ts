// Servers that stand where an attacker on the auth path would: behind the exit relay, in front of
// (or instead of) the real auth server. The exit forwards to them what it forwards to the real one,
// so what they record is exactly the exit's view, and what they answer is whatever a hostile exit
// could answer.

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type AuthKey,
  type Bytes,
  decapsulateRequest,
  decodeBinaryRequest,
  encodeBinaryResponse,
  fromUtf8,
  generateAuthKey,
  ohttpKeyId,
  utf8,
} from "@shallot/protocol";

export interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

export interface Answer {
  status: number;
  contentType: string;
  body: Buffer;
}

/** What the attacker does with one request; `forward` passes it to the real auth server. */
export type Behaviour = (seen: Seen, forward: () => Promise<Answer>) => Promise<Answer>;

export interface HostileServer {
  url: string;
  seen: Seen[];
  behave(behaviour: Behaviour): void;
  /** Everything it received, as one string: what the test searches for leaks. */
  view(): string;
  close(): Promise<void>;
}

export const passThrough: Behaviour = (_seen, forward) => forward();

async function listen(handler: (request: IncomingMessage, response: ServerResponse) => void) {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A man in the middle in front of `target` (the real auth server), by default passing everything through. */
export async function startHostileExit(target: string): Promise<HostileServer> {
  const seen: Seen[] = [];
  let behaviour: Behaviour = passThrough;
  const { url, close } = await listen((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", async () => {
      const record: Seen = { method: request.method!, path: request.url!, headers: request.headers, body: Buffer.concat(chunks) };
      seen.push(record);
      const forward = async (): Promise<Answer> => {
        const upstream = await fetch(`${target}${record.path}`, {
          method: record.method,
          headers: {
            "content-type": String(request.headers["content-type"] ?? "application/json"),
            ...(request.headers.authorization ? { authorization: request.headers.authorization } : {}),
          },
          body: record.method === "GET" || record.method === "HEAD" ? undefined : record.body,
        });
        return { status: upstream.status, contentType: upstream.headers.get("content-type") ?? "application/json", body: Buffer.from(await upstream.arrayBuffer()) };
      };
      try {
        const answer = await behaviour(record, forward);
        response.writeHead(answer.status, { "content-type": answer.contentType });
        response.end(answer.body);
      } catch {
        response.writeHead(500).end();
      }
    });
  });
  return {
    url,
    seen,
    behave: (next) => void (behaviour = next),
    view: () => seen.map((s) => `${s.method} ${s.path}\n${JSON.stringify(s.headers)}\n${s.body.toString("latin1")}`).join("\n"),
    close,
  };
}

export const json = (status: number, body: unknown): Answer => ({ status, contentType: "application/json", body: Buffer.from(JSON.stringify(body)) });

/**
 * An impostor auth server with a key of its own, speaking Oblivious HTTP correctly: each decapsulated
 * request goes to `answer`, which plays whatever server the test wants. Requests it cannot open are
 * recorded in `unopened`.
 */
export async function startImpostor(answer: (path: string, body: unknown) => Promise<{ status: number; body: unknown }>) {
  const key: AuthKey = await generateAuthKey();
  const keyId = await ohttpKeyId(key.publicKey);
  const opened: { path: string; body: unknown }[] = [];
  let unopened = 0;
  const seen: Seen[] = [];
  const server = await listen((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", async () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: request.method!, path: request.url!, headers: request.headers, body });
      try {
        const decapsulated = await decapsulateRequest({ keyId, privateKey: key.privateKey }, new Uint8Array(body) as Bytes);
        const inner = decodeBinaryRequest(decapsulated.request);
        const parsed = inner.content.length > 0 ? JSON.parse(fromUtf8(inner.content)) : undefined;
        opened.push({ path: inner.path, body: parsed });
        const result = await answer(inner.path, parsed);
        const sealed = await decapsulated.sealResponse(encodeBinaryResponse({ status: result.status, headers: [["content-type", "application/json"]], content: utf8(JSON.stringify(result.body)) }, 1024));
        response.writeHead(200, { "content-type": "message/ohttp-res" });
        response.end(Buffer.from(sealed));
      } catch {
        unopened++;
        response.writeHead(400, { "content-type": "application/json" });
        response.end(JSON.stringify({ error: "unknown_key", message: "cannot open" }));
      }
    });
  });
  return { ...server, key, seen, opened, unopened: () => unopened };
}
