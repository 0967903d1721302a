// The directory authority: one Durable Object that admits relays, prunes the silent ones on an
// alarm, and signs the consensus. Every rule about who is in the consensus lives here.

import { DurableObject } from "cloudflare:workers";
import {
  type ConsensusDocument,
  type Retirement,
  type SignedConsensus,
  type SignedDescriptor,
  ed25519Verify,
  fromBase64Url,
  retirementSigningBytes,
  signConsensus,
  verifyDescriptor,
  classifyDestination,
} from "@shallot/protocol";
import { type DirectoryConfig, type Env, parseConfig } from "./env.ts";
import { FRESHNESS_WINDOW_MS, isFresh } from "./freshness.ts";
import * as table from "./relay-table.ts";
import { signingKey } from "./signing-key.ts";

export type DirectoryErrorCode = "bad_signature" | "stale_descriptor" | "unknown_relay" | "stale_retirement" | "address_refused" | "directory_full";
export type Failure = { ok: false; error: DirectoryErrorCode; message: string };
export type Outcome = { ok: true; id: string } | Failure;

export interface StatusSnapshot {
  now: number;
  relays: table.RelayRow[];
  consensusPublished: number;
}

const fail = (error: DirectoryErrorCode, message: string): Failure => ({ ok: false, error, message });

export class Directory extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Bumped whenever the cached consensus is dropped, so a signature racing a change is not cached. */
  private generation = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => table.createTables(this.sql));
  }

  private get config(): DirectoryConfig {
    const parsed = parseConfig(this.env);
    if (!parsed.ok) throw new Error(parsed.message);
    return parsed.config;
  }

  /** Admits a new relay or refreshes a known one; this is also the relay's periodic ping. */
  async register(signed: SignedDescriptor): Promise<Outcome> {
    const d = signed.descriptor;
    if (!(await verifyDescriptor(signed))) return fail("bad_signature", "The descriptor's signature or id does not match its identity key.");
    // From here to the alarm check everything is synchronous, so no other request interleaves.
    const now = Date.now();
    if (!isFresh(d.published, now)) return fail("stale_descriptor", "The descriptor's published time is more than 5 minutes from the directory's clock.");
    // A relay proves it is alive with a descriptor signed within the TTL; an older one is a replay.
    if (d.published < now - this.config.relayTtlMs) return fail("stale_descriptor", "The descriptor was published longer ago than the liveness TTL.");
    // Clients and relays POST to listed addresses: none may point into a private network.
    if (!this.config.allowPrivateRelayAddresses && classifyDestination(new URL(d.address)) === "private") {
      return fail("address_refused", "A relay address must be public (loopback, private and link-local addresses are refused).");
    }
    const known = table.getRelay(this.sql, d.id);
    if (!known && table.countRelays(this.sql) >= this.config.maxRelays) return fail("directory_full", "The directory lists as many relays as it may.");
    if (known && d.published < known.published) return fail("stale_descriptor", "A newer descriptor of this relay is already registered.");
    const retiredAt = table.getRetirement(this.sql, d.id);
    if (retiredAt !== null && d.published <= retiredAt) return fail("stale_descriptor", "The relay retired after this descriptor was published.");

    // A repeat of the registered descriptor is accepted (a retry) but proves nothing new: only a
    // newer signed `published` keeps a relay alive, so replaying its last descriptor cannot.
    if (known && d.published === known.published) return { ok: true, id: d.id };
    // A ping that only moves `published` keeps the cached consensus.
    if (!known || known.address !== d.address || known.onionKey !== d.onionKey) this.dropConsensus();
    table.upsertRelay(this.sql, d, now);
    if (retiredAt !== null) table.deleteRetirement(this.sql, d.id);
    await this.ensureAlarm();
    return { ok: true, id: d.id };
  }

  /** Removes a relay at once, on its own signed request. */
  async retire(retirement: Retirement): Promise<Outcome> {
    const known = table.getRelay(this.sql, retirement.id);
    if (!known) return fail("unknown_relay", "No relay with this id is registered.");
    const valid = await ed25519Verify(fromBase64Url(known.identityKey), fromBase64Url(retirement.signature), retirementSigningBytes(retirement.id, retirement.at));
    if (!valid) return fail("bad_signature", "The retirement is not signed by the relay's identity key.");
    // Re-read: the relay may have re-posted while the signature was checked. A retirement older
    // than its current descriptor is a replay from an earlier life.
    const current = table.getRelay(this.sql, retirement.id) ?? known;
    if (!isFresh(retirement.at, Date.now()) || retirement.at < current.published) {
      return fail("stale_retirement", "The retirement's time is more than 5 minutes from the directory's clock or predates the relay's descriptor.");
    }
    table.deleteRelay(this.sql, retirement.id);
    table.recordRetirement(this.sql, retirement.id, retirement.at);
    this.dropConsensus();
    await this.ensureAlarm();
    return { ok: true, id: retirement.id };
  }

  /** The signed consensus, regenerated only after a change or when a third of its lifetime has passed. */
  async consensus(): Promise<SignedConsensus> {
    const { relayTtlMs, signingSeed } = this.config;
    const now = Date.now();
    this.prune(now); // a late alarm must not leave dead relays in a fresh consensus
    const cached = table.readConsensus(this.sql);
    if (cached && now - cached.published < relayTtlMs / 3 && cached.published <= now) return cached.signed;

    const generation = this.generation;
    const relays = table.listRelays(this.sql).map(({ id, address, onionKey, identityKey, published }) => ({ id, address, onionKey, identityKey, published }));
    const document: ConsensusDocument = { version: 1, published: now, validUntil: now + relayTtlMs, relays };
    const signed = await signConsensus(document, (await signingKey(signingSeed)).privateKey);
    if (generation === this.generation) table.writeConsensus(this.sql, now, signed);
    return signed;
  }

  async status(): Promise<StatusSnapshot> {
    const signed = await this.consensus();
    const { published } = JSON.parse(signed.document) as ConsensusDocument;
    return { now: Date.now(), relays: table.listRelays(this.sql), consensusPublished: published };
  }

  override async alarm(): Promise<void> {
    this.prune(Date.now());
    await this.scheduleNextAlarm();
  }

  private prune(now: number): void {
    if (table.pruneDue(this.sql, now, this.config.relayTtlMs, FRESHNESS_WINDOW_MS) > 0) this.dropConsensus();
  }

  private dropConsensus(): void {
    this.generation++;
    table.clearConsensus(this.sql);
  }

  private async ensureAlarm(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.scheduleNextAlarm();
  }

  /** partywhen's loop: the next alarm is the earliest remaining deadline. */
  private async scheduleNextAlarm(): Promise<void> {
    const due = table.nextDeadline(this.sql, this.config.relayTtlMs, FRESHNESS_WINDOW_MS);
    if (due === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(due);
  }
}
