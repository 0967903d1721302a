// Test helpers: add relays through the admin route and talk to them as a client would.

import { exports } from "cloudflare:workers";
import { type CellTransport, type Descriptor, fetchTransport, webSocketTransport } from "@shallot/protocol";

export const ADMIN = { authorization: "Bearer test-admin-token" };

export const worker = () => (exports as unknown as { default: Fetcher }).default;

export async function addRelay(): Promise<Descriptor> {
  const response = await worker().fetch("http://relay.test/relays", { method: "POST", headers: ADMIN });
  if (response.status !== 201) throw new Error(`POST /relays answered ${response.status}`);
  return response.json();
}

export const addRelays = (count: number) => Promise.all(Array.from({ length: count }, addRelay));

/** A client's link to the entry: the link contract over this worker's own fetch, as a client sends it. */
export const clientTransport: CellTransport = fetchTransport({ fetch: (url, init) => worker().fetch(url, init) });

export function relayStub(id: string) {
  return env().RELAY.get(env().RELAY.idFromName(id));
}

import { env as workerEnv } from "cloudflare:workers";
const env = () => workerEnv as unknown as Cloudflare.Env;

type Listener = (event: { data?: unknown }) => void;

/**
 * A client WebSocket to this worker, opened the way Workers open one (fetch with Upgrade), shaped
 * as the protocol's WebSocketLike: what a client's webSocketTransport uses in these tests.
 */
export class WorkerWebSocket {
  binaryType = "arraybuffer";
  readyState = 0;
  private socket: WebSocket | null = null;
  private readonly listeners = new Map<string, Listener[]>();

  constructor(url: string) {
    worker()
      .fetch(url.replace(/^ws/, "http"), { headers: { upgrade: "websocket" } })
      .then((response) => {
        const socket = response.webSocket;
        if (!socket) throw new Error(`no WebSocket: ${response.status}`);
        socket.accept();
        // Accepted sockets deliver Blobs unless told otherwise.
        (socket as unknown as { binaryType: string }).binaryType = "arraybuffer";
        this.socket = socket;
        this.readyState = 1;
        socket.addEventListener("message", (event) => this.emit("message", { data: event.data }));
        socket.addEventListener("close", () => {
          this.readyState = 3;
          this.emit("close", {});
        });
        this.emit("open", {});
      })
      .catch(() => {
        this.readyState = 3;
        this.emit("error", {});
        this.emit("close", {});
      });
  }

  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  send(data: Uint8Array): void {
    this.socket!.send(data);
  }

  close(code?: number, reason?: string): void {
    this.socket?.close(code, reason);
  }

  private emit(type: string, event: { data?: unknown }): void {
    for (const listener of this.listeners.get(type) ?? []) listener(event);
  }
}

/** The client's link as the CLI has it: a WebSocket per entry, POST for what a frame cannot carry. */
export const webSocketClientTransport = () => webSocketTransport({ WebSocket: WorkerWebSocket, fallback: clientTransport, timeoutMs: 20_000 });
