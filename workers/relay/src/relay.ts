// The Relay Durable Object: one onion router. It owns its keys and its key and transfer tables
// (SQL), its heartbeat to the directory (alarm), and the fetches to its neighbours; the circuit
// logic itself is the protocol package's RelayEngine.

import { DurableObject } from "cloudflare:workers";
import {
  DestroyReason,
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
import { sendCell } from "./link.ts";
import { RelayStore } from "./relay-store.ts";
import { selfBinding } from "./self.ts";

export type CellResult = { ok: true; cell: Uint8Array } | { ok: false; status: number; error: string; message: string };

/** Idle circuits torn down per alarm, so one alarm never runs long. */
const EXPIRY_BATCH = 100;

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
  /** The directory's requested ping interval, when shorter than ours: a relay must ping within its TTL. */
  private directoryPingMs: number | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      this.store = new RelayStore(ctx.storage.sql);
      const stored = this.store.loadIdentity();
      if (stored) this.relay = await this.load(stored.id, stored.address, await importEd25519(stored.identityKey), await importX25519(stored.onionKey));
    });
  }

  private async load(id: string, address: string, identity: KeyPair, onion: KeyPair): Promise<LoadedRelay> {
    const localPrefix = address.slice(0, address.length - id.length);
    const engine = new RelayEngine({
      identity: { id, relayId: fromHex(id), onionKey: onion },
      tables: this.store,
      clock: Date.now,
      link: { send: (next, cell) => sendCell(next, cell, { localPrefix, self: selfBinding(), neighbour: id }) },
      exit: (request) => performExitRequest(request, readConfig(this.env)),
      mayExtendTo: (next) => readConfig(this.env).allowPrivateDestinations || classifyDestination(new URL(next)) === "public",
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
    const signed = await this.signedDescriptor(this.relay);
    this.directoryPingMs = await publishDescriptor(this.env, signed).catch(() => {
      // The heartbeat retries; a relay is useful as soon as the directory hears from it.
      return undefined;
    });
    await this.ctx.storage.setAlarm(Date.now() + this.pingInterval());
    return signed;
  }

  /** The descriptor last published (signed then, never on request: GET must not be a signing oracle). */
  async descriptor(): Promise<SignedDescriptor | null> {
    if (!this.relay || this.retiring) return null;
    return (this.published ??= await this.signedDescriptor(this.relay));
  }

  private async signedDescriptor(relay: LoadedRelay): Promise<SignedDescriptor> {
    this.published = await signDescriptor(
      { id: relay.id, address: relay.address, onionKey: toBase64Url(relay.onion.publicKey), identityKey: toBase64Url(relay.identity.publicKey), published: Date.now() },
      relay.identity.privateKey,
    );
    return this.published;
  }

  async handleCell(cell: Uint8Array<ArrayBuffer>, neighbour: string): Promise<CellResult> {
    if (!this.relay || this.retiring) return { ok: false, status: 404, error: "unknown_relay", message: "No relay with that id serves here." };
    try {
      return { ok: true, cell: await this.relay.engine.handle(cell, neighbour) };
    } catch (error) {
      if (isProtocolError(error)) return { ok: false, status: cellErrorStatus(error.code), error: error.code, message: error.message };
      console.error("relay: cell failed", error instanceof Error ? error.name : typeof error);
      return { ok: false, status: 500, error: "internal_error", message: "The relay could not process the cell." };
    }
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
    const at = Date.now();
    const signature = toBase64Url(await ed25519Sign(relay.identity.privateKey, retirementSigningBytes(relay.id, at)));
    await retireDescriptor(this.env, { id: relay.id, at, signature }).catch(() => {
      // Unreachable directory: the relay's silence prunes it within the TTL anyway.
    });
    for (const { linkId, neighbour } of this.store.allCircuits()) await relay.engine.destroy(linkId, neighbour, DestroyReason.HIBERNATING);
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.store.forgetSchema();
    this.relay = null;
    return true;
  }

  /** Heartbeat: re-publish the descriptor (the directory's liveness ping) and expire idle circuits. */
  override async alarm(): Promise<void> {
    const relay = this.relay;
    if (!relay || this.retiring) return;
    const config = readConfig(this.env);
    try {
      this.directoryPingMs = await publishDescriptor(this.env, await this.signedDescriptor(relay));
    } catch (error) {
      console.warn("relay: directory ping failed", error instanceof Error ? error.name : typeof error);
    }
    // retire() may have erased everything while the ping was in flight.
    if (this.relay !== relay || this.retiring) return;
    const before = Date.now() - config.circuitIdleMs;
    this.store.deleteIdleEnds(before);
    // The rest have a next hop that must hear DESTROY: a bounded batch per alarm.
    const idle = this.store.idleCircuits(before, EXPIRY_BATCH);
    for (const { linkId, neighbour } of idle) await relay.engine.destroy(linkId, neighbour, DestroyReason.TIMEOUT);
    await this.ctx.storage.setAlarm(Date.now() + this.pingInterval());
  }

  private pingInterval(): number {
    return Math.min(readConfig(this.env).pingIntervalMs, this.directoryPingMs ?? Infinity);
  }
}
