// The Relay Durable Object: one onion router. It owns its keys and its key and transfer tables
// (SQL), its heartbeat to the directory authorities (alarm), and the fetches to its neighbours; the circuit
// logic itself is the protocol package's RelayEngine.

import { DurableObject } from "cloudflare:workers";
import {
  CELL_HEADER_BYTES,
  CLIENT_NEIGHBOUR,
  CellCommand,
  DeadlineSet,
  ExitStreams,
  DestroyReason,
  RateLimiter,
  cellErrorStatus,
  classifyDestination,
  RelayEngine,
  type SignedDescriptor,
  exportPrivateKey,
  fromHex,
  relayIdFor,
  generateX25519,
  importEd25519,
  importX25519,
  isProtocolError,
  retirementSigningBytes,
  ed25519Sign,
  signDescriptor,
  toBase64Url,
  type KeyPair,
} from "@shallot/protocol";
import { publishDescriptor, retireDescriptor } from "./directory-client.ts";
import { type Env, readConfig } from "./env.ts";
import { performExitRequest } from "./exit.ts";
import { connectExitSocket, parsePorts, streamPolicy } from "./exit-socket.ts";
import { errorResponse } from "./http-error.ts";
import { claimBytes, holdBytes, releaseBytes } from "./inflight.ts";
import { sendCell } from "./link.ts";
import { RelayStore } from "./relay-store.ts";
import { WorkQueue } from "./work-queue.ts";

export type CellResult =
  | { ok: true; cell: Uint8Array }
  | { ok: false; status: number; error: string; message: string; /** Seconds, for Retry-After. */ retryAfter?: number };

/** Idle circuits with a next hop torn down per alarm, so one alarm never runs long. */
const EXPIRY_BATCH = 500;
/** DESTROYs sent at once in the background, and how many may wait their turn. */
const DESTROY_CONCURRENCY = 16;
const DESTROY_BACKLOG = 2048;
/**
 * A cell in flight at a hop is held about twice: as received and as peeled (or sealed) and sent;
 * neither is kept while the rest of the circuit answers. The isolate's byte budget is charged that.
 */
export const COPIES_PER_CELL = 2;

const busy = (message: string, retryAfterMs: number, status = 503, error = "relay_busy"): CellResult => ({
  ok: false,
  status,
  error,
  message,
  retryAfter: Math.max(1, Math.ceil(retryAfterMs / 1000)),
});

interface LoadedRelay {
  /** Fingerprint of the identity key: hex(SHA-256(identity public key)). */
  id: string;
  address: string;
  identity: KeyPair;
  onion: KeyPair;
  engine: RelayEngine;
}

export class Relay extends DurableObject<Env> {
  private store!: RelayStore;
  private relay: LoadedRelay | null = null;
  private retiring = false;
  private published: SignedDescriptor | null = null;
  /** The shortest ping interval an authority asks for, when shorter than ours: a relay must ping within every TTL. */
  private directoryPingMs: number | undefined;
  /** DESTROYs owed to next hops by expiry and retirement, sent a few at a time. */
  private readonly destroys = new WorkQueue(DESTROY_CONCURRENCY, DESTROY_BACKLOG);
  /** Cells this relay is working on now. */
  private inflight = 0;
  /** Deadlines of this relay's calls to the next hop's object and of its exit fetches: one timer for all. */
  private readonly deadlines = new DeadlineSet(Date.now);
  private createsByNeighbour: RateLimiter | null = null;
  /** The streams of circuits that end here (sockets live in memory only: an evicted exit loses them). */
  private streams: ExitStreams | null = null;
  /** Cells in flight per client WebSocket link, at most this many. */
  private static readonly LINK_INFLIGHT = 64;
  private creates: RateLimiter | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      this.store = new RelayStore(ctx.storage.sql);
      const stored = this.store.loadIdentity();
      if (!stored) return;
      this.relay = await this.load(stored.id, stored.address, await importEd25519(stored.identityKey), await importX25519(stored.onionKey));
      // A relay whose heartbeat was lost (its alarm gave up after failures, or was never set)
      // starts it again: nothing else would ever bring it back into the consensus.
      if ((await ctx.storage.getAlarm()) === null) await ctx.storage.setAlarm(Date.now());
    });
  }

  private async load(id: string, address: string, identity: KeyPair, onion: KeyPair): Promise<LoadedRelay> {
    const localPrefix = address.slice(0, address.length - id.length);
    const config = readConfig(this.env);
    const socketConfig = { allowPrivateDestinations: config.allowPrivateDestinations, dohUrl: config.dohUrl, resolveTimeoutMs: config.linkTimeoutMs };
    this.streams = new ExitStreams({
      connect: (host, port, signal) => connectExitSocket(host, port, signal, socketConfig),
      policy: streamPolicy(parsePorts(config.exitPorts), config.allowPrivateDestinations),
      clock: Date.now,
      timer: (ms, fn) => {
        const handle = setTimeout(fn, ms);
        return () => clearTimeout(handle);
      },
      holdMs: config.streamHoldMs,
      connectTimeoutMs: config.streamConnectTimeoutMs,
      idleMs: config.streamIdleMs,
      maxStreams: config.maxStreams,
      maxStreamsPerCircuit: config.maxStreamsPerCircuit,
      // Buffered stream bytes are charged to the isolate's budget like cells in flight.
      claim: (bytes) => holdBytes(bytes, config.maxInflightBytes),
      release: releaseBytes,
    });
    const link = { localPrefix, relays: this.env.RELAY, neighbour: id, timeoutMs: config.linkTimeoutMs, relayTimeoutMs: config.linkTimeoutMs + config.exitTimeoutMs, deadlines: this.deadlines };
    const engine = new RelayEngine({
      identity: { id, relayId: fromHex(id), onionKey: onion },
      tables: this.store,
      clock: Date.now,
      link: { send: (next, cell) => sendCell(next, cell, link) },
      exit: (request) => performExitRequest(request, readConfig(this.env), this.deadlines),
      streams: this.streams,
      mayExtendTo: (next) => readConfig(this.env).allowPrivateRelays || classifyDestination(new URL(next)) === "public",
    });
    return { id, address, identity, onion, engine };
  }

  /**
   * Creates the relay on first call (idempotent): keeps the identity key it is given (the worker
   * names this object by that key's fingerprint), makes its onion key, publishes its descriptor
   * and starts the heartbeat.
   */
  async init(address: string, identityPkcs8: Uint8Array<ArrayBuffer>): Promise<SignedDescriptor> {
    if (!this.relay) {
      const [identity, onion] = await Promise.all([importEd25519(identityPkcs8), generateX25519()]);
      const id = await relayIdFor(identity.publicKey);
      if (!address.endsWith(`/${id}`)) throw new Error("The relay address must end with its id.");
      this.store.saveIdentity({ id, address, identityKey: identityPkcs8, onionKey: await exportPrivateKey(onion.privateKey) }, Date.now());
      this.relay = await this.load(id, address, identity, onion);
    }
    await this.ctx.storage.setAlarm(Date.now() + this.pingInterval());
    const signed = await this.signedDescriptor(this.relay);
    // Every authority at once, each within the link deadline, in the background: a slow authority
    // delays neither the others nor the answer. The heartbeat retries those that failed.
    this.ctx.waitUntil(
      publishDescriptor(this.env, signed, readConfig(this.env).linkTimeoutMs).then((published) => {
        this.directoryPingMs = published.pingIntervalMs ?? this.directoryPingMs;
      }),
    );
    return signed;
  }

  /** The descriptor last published (signed then, never on request: GET must not be a signing oracle). */
  async descriptor(): Promise<SignedDescriptor | null> {
    if (!this.relay || this.retiring) return null;
    return (this.published ??= await this.signedDescriptor(this.relay));
  }

  private async signedDescriptor(relay: LoadedRelay): Promise<SignedDescriptor> {
    const { exitPolicy } = readConfig(this.env);
    this.published = await signDescriptor(
      { id: relay.id, address: relay.address, onionKey: toBase64Url(relay.onion.publicKey), identityKey: toBase64Url(relay.identity.publicKey), exitPolicy, published: Date.now() },
      relay.identity.privateKey,
    );
    return this.published;
  }

  /**
   * Answers one link cell. `source` names who sent it for rate limiting only (the client's address
   * when the worker knows it); it is held in memory, never stored or logged.
   */
  async handleCell(cell: Uint8Array<ArrayBuffer>, neighbour: string, source?: string): Promise<CellResult> {
    const relay = this.relay;
    if (!relay || this.retiring) return { ok: false, status: 404, error: "unknown_relay", message: "No relay with that id serves here." };
    const config = readConfig(this.env);
    if (this.inflight >= config.maxInflightCells) return busy("This relay is working on too many cells; try again shortly.", 1000);
    const refused = cell[1] === CellCommand.CREATE2 ? this.admitCreate(neighbour, source, config) : null;
    if (refused) return refused;
    const claim = claimBytes(cell.length * COPIES_PER_CELL, config.maxInflightBytes);
    if (!claim) return busy("This relay's worker holds too many bytes in flight; try again shortly.", 1000);
    this.inflight++;
    try {
      const answering = relay.engine.handle(cell, neighbour);
      // Not held while the rest of the circuit answers: the engine keeps what it needs.
      cell = null!;
      return { ok: true, cell: await answering };
    } catch (error) {
      if (isProtocolError(error)) return { ok: false, status: cellErrorStatus(error.code), error: error.code, message: error.message };
      console.error("relay: cell failed", error instanceof Error ? error.name : typeof error);
      return { ok: false, status: 500, error: "internal_error", message: "The relay could not process the cell." };
    } finally {
      this.inflight--;
      claim.release();
    }
  }

  /** Every CREATE2 costs two X25519 operations and a row: bounded per sender, per relay and in total. */
  private admitCreate(neighbour: string, source: string | undefined, config: ReturnType<typeof readConfig>): CellResult | null {
    const now = Date.now();
    if (this.store.circuitCount() >= config.maxCircuits) {
      return busy("This relay carries as many circuits as it may; try another relay or again later.", config.circuitIdleMs / 4, 503, "relay_full");
    }
    this.createsByNeighbour ??= new RateLimiter({ burst: config.createBurst, ratePerSecond: config.createRate });
    this.creates ??= new RateLimiter({ burst: config.relayCreateBurst, ratePerSecond: config.relayCreateRate });
    // Relays name themselves (unauthenticated, so the relay-wide limit below still holds); clients are told apart by address where known.
    const key = neighbour === CLIENT_NEIGHBOUR ? `client:${source ?? ""}` : neighbour;
    const mine = this.createsByNeighbour.take(key, now);
    if (!mine.ok) return busy("Too many CREATE2 cells from this neighbour; slow down.", mine.retryAfterMs, 429, "rate_limited");
    const all = this.creates.take("*", now);
    if (!all.ok) return busy("This relay is handling too many new circuits; try again shortly.", all.retryAfterMs);
    return null;
  }

  /**
   * A client's WebSocket link (GET <address>/link): each binary frame is a 4-byte tag and a link cell;
   * each answer is the same tag and the answering cell, or a text frame `{tag, status, error,
   * message}` for a refusal. Cells are worked on concurrently and answered as they finish, so a
   * DRAIN held at the exit holds up nothing else.
   */
  override async fetch(request: Request): Promise<Response> {
    if (!this.relay || this.retiring) return errorResponse(404, "unknown_relay", "No relay with that id serves here.");
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return errorResponse(426, "upgrade_required", "The link endpoint speaks WebSocket.");
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    server.accept();
    server.binaryType = "arraybuffer";
    // Held in memory for rate limiting only, as for the cell route.
    const source = request.headers.get("cf-connecting-ip") ?? undefined;
    let inflight = 0;
    server.addEventListener("message", (event) => {
      if (typeof event.data === "string" || event.data.byteLength < 4 + CELL_HEADER_BYTES) {
        server.close(1003, "Frames are a 4-byte tag and a link cell.");
        return;
      }
      const frame = new Uint8Array(event.data);
      const tag = frame.slice(0, 4);
      const refuse = (result: { status: number; error: string; message: string; retryAfter?: number }) =>
        server.send(JSON.stringify({ tag: new DataView(tag.buffer).getUint32(0), status: result.status, error: result.error, message: result.message, retryAfter: result.retryAfter }));
      if (inflight >= Relay.LINK_INFLIGHT) return refuse({ status: 503, error: "relay_busy", message: "Too many cells in flight on this link.", retryAfter: 1 });
      inflight++;
      void this.handleCell(frame.slice(4), CLIENT_NEIGHBOUR, source)
        .then((result) => {
          if (!result.ok) return refuse(result);
          const answer = new Uint8Array(4 + result.cell.length);
          answer.set(tag);
          answer.set(result.cell, 4);
          server.send(answer);
        })
        .catch(() => refuse({ status: 500, error: "internal_error", message: "The relay could not process the cell." }))
        .finally(() => inflight--);
    });
    // No permessage-deflate (which Node and browsers offer): cells are ciphertext, so compressing
    // them only costs CPU at both ends. An extension list that names none workerd implements
    // agrees to none, and workerd leaves the header out of the 101.
    return new Response(null, { status: 101, webSocket: client, headers: { "sec-websocket-extensions": "identity" } });
  }

  /** Row counts of the key and transfer tables (for status and tests). */
  async tableCounts(): Promise<{ keys: number; transfers: number }> {
    return this.store.counts();
  }

  /** Leaves the network: out of the consensus first, then every circuit torn down, then all state erased. */
  async retire(): Promise<boolean> {
    const relay = this.relay;
    if (!relay) return false;
    this.retiring = true;
    const config = readConfig(this.env);
    const at = Date.now();
    const signature = toBase64Url(await ed25519Sign(relay.identity.privateKey, retirementSigningBytes(relay.id, at)));
    await retireDescriptor(this.env, { id: relay.id, at, signature }, config.linkTimeoutMs).catch(() => {
      // Unreachable directory: the relay's silence prunes it within the TTL anyway.
    });
    await this.ctx.storage.deleteAlarm();
    for (const { linkId, neighbour } of this.store.allCircuits()) this.owe(relay.engine.forgetCircuit(linkId, neighbour, DestroyReason.HIBERNATING));
    // Next hops are told a few at a time, each bounded by the link deadline, and the whole
    // farewell is bounded too: a next hop that never answers cannot keep the relay from leaving.
    let timer: ReturnType<typeof setTimeout> | null = null;
    await Promise.race([this.destroys.drained(), new Promise((resolve) => (timer = setTimeout(resolve, 2 * config.linkTimeoutMs)))]);
    if (timer !== null) clearTimeout(timer);
    await this.ctx.storage.deleteAll();
    this.store.forgetSchema();
    this.relay = null;
    return true;
  }

  /** Heartbeat: re-publish the descriptor (the directory's liveness ping) and expire idle circuits. */
  override async alarm(): Promise<void> {
    const relay = this.relay;
    if (!relay || this.retiring) return;
    // The next heartbeat first: nothing below (a stalled directory, a tarpit next hop) may keep
    // this relay from pinging again.
    await this.ctx.storage.setAlarm(Date.now() + this.pingInterval());
    const config = readConfig(this.env);
    const before = Date.now() - config.circuitIdleMs;
    this.store.deleteIdleEnds(before);
    // Streams idle too long end; streams of circuits that are gone (expired above) close.
    this.streams?.expire(Date.now());
    for (const key of this.streams?.circuitKeys() ?? []) {
      const at = key.lastIndexOf("/");
      if (!this.store.getKeys(key.slice(0, at), key.slice(at + 1))) this.streams?.close(key);
    }
    // The rest have a next hop that must hear DESTROY: rows go now, DESTROYs in the background.
    for (const { linkId, neighbour } of this.store.idleCircuits(before, EXPIRY_BATCH)) this.owe(relay.engine.forgetCircuit(linkId, neighbour, DestroyReason.TIMEOUT));
    // To every authority at once, each within the link deadline: a slow one delays no other.
    const published = await publishDescriptor(this.env, await this.signedDescriptor(relay), config.linkTimeoutMs);
    if (published.failed > 0) console.warn("relay: an authority did not take the ping");
    this.directoryPingMs = published.pingIntervalMs;
  }

  /** Queues a DESTROY owed to a next hop; dropped when the backlog is full (the next hop expires it). */
  private owe(owed: { address: string; cell: Uint8Array } | null): void {
    const relay = this.relay;
    if (!owed || !relay) return;
    const config = readConfig(this.env);
    const link = { localPrefix: relay.address.slice(0, relay.address.length - relay.id.length), relays: this.env.RELAY, neighbour: relay.id, timeoutMs: config.linkTimeoutMs, relayTimeoutMs: config.linkTimeoutMs, deadlines: this.deadlines };
    this.destroys.push(() => sendCell(owed.address, owed.cell, link).then(() => {}));
  }

  private pingInterval(): number {
    return Math.min(readConfig(this.env).pingIntervalMs, this.directoryPingMs ?? Infinity);
  }
}
