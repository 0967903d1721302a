// A deployment of relays kept in memory, answering the relay worker's two public routes —
// `GET <address>` (the signed descriptor) and `POST <address>/cell` (the link contract) — with the
// protocol's own RelayEngine. Tests use it as a relay host whose behaviour they choose: honest, or
// lying about its key in one of the ways an authority's reachability test must catch. It answers
// Fetch API requests, so a Node HTTP server or a runtime's fetch handler can serve it.

import { fromHex, toBase64Url } from "../bytes.ts";
import { type Descriptor, type ExitPolicy, type Retirement, type SignedDescriptor, relayIdFor, retirementSigningBytes, signDescriptor } from "../descriptor.ts";
import { isProtocolError } from "../errors.ts";
import { cellErrorStatus, errorBody } from "../link.ts";
import { MemoryRelayTables } from "../memory-tables.ts";
import { CLIENT_NEIGHBOUR, RelayEngine } from "../relay-engine.ts";
import { type KeyPair, ed25519Sign, generateEd25519, generateX25519 } from "../x25519.ts";

/**
 * - `honest`: serves its descriptor and answers CREATE2 with the onion key it publishes;
 * - `wrong-key`: publishes an onion key it does not hold (its handshakes use another one);
 * - `other-descriptor`: its address serves another relay's descriptor;
 * - `no-descriptor`: its address answers 404;
 * - `forged-reply`: answers CREATE2 with a CREATED2 whose AUTH is made up;
 * - `silent`: accepts the connection and never answers (a tarpit).
 */
export type TestRelayBehaviour = "honest" | "wrong-key" | "other-descriptor" | "no-descriptor" | "forged-reply" | "silent";

export interface TestRelay {
  id: string;
  address: string;
  behaviour: TestRelayBehaviour;
  /** The descriptor as the relay publishes it, signed now (or at `published`), with `changes` if any (a relay that moved, or lies). */
  signed(published?: number, changes?: Partial<Descriptor>): Promise<SignedDescriptor>;
  /** Its signed retirement at `at`. */
  retirement(at?: number): Promise<Retirement>;
  /** CREATE2 cells it answered. */
  creates: number;
  /** Circuits it holds now (a test's link is destroyed after it). */
  circuits(): number;
}

interface HostedRelay extends TestRelay {
  identity: KeyPair;
  engine: RelayEngine;
  tables: MemoryRelayTables;
  /** What GET <address> serves. */
  served(): Promise<SignedDescriptor | null>;
}

export class TestRelayHost {
  readonly base: string;
  private readonly relays = new Map<string, HostedRelay>();
  /** Relays taken off the host for a while: their address answers 404 unknown_relay. */
  private readonly hidden = new Set<string>();
  private readonly stalled = new Set<() => void>();

  /** `base`: the deployment's base URL (its relays are at `<base>/relays/<id>`). */
  constructor(base: string) {
    this.base = base.replace(/\/+$/, "");
  }

  async add(behaviour: TestRelayBehaviour = "honest", exitPolicy: ExitPolicy = "all"): Promise<TestRelay> {
    const identity = await generateEd25519();
    const published = await generateX25519();
    const held = behaviour === "wrong-key" ? await generateX25519() : published;
    const id = await relayIdFor(identity.publicKey);
    const address = `${this.base}/relays/${id}`;
    const tables = new MemoryRelayTables();
    const engine = new RelayEngine({
      identity: { id, relayId: fromHex(id), onionKey: held },
      tables,
      clock: Date.now,
      link: { send: async () => Promise.reject(new Error("a test relay opens no links")) },
      exit: async () => ({ ok: false, error: { error: "destination_refused", message: "A test relay is no exit.", status: 403 } }),
    });
    const descriptor = (at: number): Descriptor => ({ id, address, onionKey: toBase64Url(published.publicKey), identityKey: toBase64Url(identity.publicKey), exitPolicy, published: at });
    const relay: HostedRelay = {
      id,
      address,
      behaviour,
      identity,
      engine,
      tables,
      creates: 0,
      circuits: () => tables.keys.size,
      signed: (at = Date.now(), changes = {}) => signDescriptor({ ...descriptor(at), ...changes }, identity.privateKey),
      retirement: async (at = Date.now()) => ({ id, at, signature: toBase64Url(await ed25519Sign(identity.privateKey, retirementSigningBytes(id, at))) }),
      served: async () => {
        if (behaviour === "no-descriptor") return null;
        if (behaviour === "other-descriptor") {
          const other = [...this.relays.values()].find((r) => r.id !== id);
          return other ? other.signed() : null;
        }
        return relay.signed();
      },
    };
    this.relays.set(id, relay);
    return relay;
  }

  /** The relay stops serving (its address answers 404) until restored. */
  remove(id: string): void {
    this.hidden.add(id);
  }

  restore(id: string): void {
    this.hidden.delete(id);
  }

  /** Ends every request held open by silent relays (with a 503), e.g. before the test ends. */
  release(): void {
    for (const wake of this.stalled) wake();
    this.stalled.clear();
  }

  /** Requests held open right now by silent relays. */
  get held(): number {
    return this.stalled.size;
  }

  /** The relay worker's routes for these relays; 404 unknown_relay for anything else. */
  async handle(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    const match = /\/relays\/([0-9a-f]{64})(\/cell)?$/.exec(path);
    const relay = match && !this.hidden.has(match[1]!) ? this.relays.get(match[1]!) : undefined;
    if (!relay) return Response.json(errorBody("unknown_relay", "No relay with that id serves here."), { status: 404 });
    if (relay.behaviour === "silent") {
      await new Promise<void>((resolve) => this.stalled.add(resolve));
      return Response.json(errorBody("relay_busy", "Released."), { status: 503 });
    }
    if (!match![2] && request.method === "GET") {
      const served = await relay.served();
      return served ? Response.json(served) : Response.json(errorBody("unknown_relay", "No relay with that id serves here."), { status: 404 });
    }
    if (match![2] && request.method === "POST") {
      const cell = new Uint8Array(await request.arrayBuffer());
      if (cell[1] === 1) relay.creates++;
      try {
        if (relay.behaviour === "forged-reply" && cell[1] === 1) {
          const answer = await relay.engine.handle(cell, request.headers.get("onion-neighbour") ?? CLIENT_NEIGHBOUR);
          answer.fill(7, 20 + 32, 20 + 64); // AUTH made up
          return new Response(answer, { headers: { "content-type": "application/octet-stream" } });
        }
        const answer = await relay.engine.handle(cell, request.headers.get("onion-neighbour") ?? CLIENT_NEIGHBOUR);
        return new Response(answer, { headers: { "content-type": "application/octet-stream" } });
      } catch (error) {
        if (isProtocolError(error)) return Response.json(errorBody(error.code, error.message), { status: cellErrorStatus(error.code) });
        return Response.json(errorBody("internal_error", "The relay could not process the cell."), { status: 500 });
      }
    }
    return Response.json(errorBody("not_found", "No such route."), { status: 404 });
  }
}
