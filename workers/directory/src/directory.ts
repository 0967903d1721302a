// One directory authority: a Durable Object that admits relay descriptors, tests each relay's
// reachability, votes every round on the relays that passed, exchanges votes with the other
// authorities, computes the consensus from them and collects the others' signatures on it. Every
// rule about what this authority says about the network lives here; the rules all authorities
// share (how votes make a consensus) live in the protocol package.

import { DurableObject } from "cloudflare:workers";
import {
  type Authority,
  type ListedRelay,
  type RelayFlag,
  type Retirement,
  type SignedConsensus,
  type SignedDescriptor,
  type SignedVote,
  type VoteDocument,
  computeConsensus,
  ed25519Verify,
  fromBase64Url,
  majorityOf,
  openVote,
  retirementSigningBytes,
  sameRelay,
  serializeConsensus,
  signConsensusText,
  signVote,
  toBase64Url,
  validSigners,
  verifyDescriptor,
  SignedConsensusSchema,
} from "@shallot/protocol";
import * as v from "valibot";
import { pullConsensus, pullVotes, pushVote } from "./authority-client.ts";
import { type DirectoryConfig, type Env, parseConfig } from "./env.ts";
import { FRESHNESS_WINDOW_MS, isFresh } from "./freshness.ts";
import { probeRelay } from "./prober.ts";
import * as table from "./relay-table.ts";
import { signingKey } from "./signing-key.ts";
import * as rounds from "./vote-table.ts";

export type DirectoryErrorCode =
  | "bad_signature"
  | "stale_descriptor"
  | "unknown_relay"
  | "stale_retirement"
  | "address_refused"
  | "directory_full"
  | "host_not_allowed"
  | "bad_vote"
  | "stale_vote";
export type Failure = { ok: false; error: DirectoryErrorCode; message: string };
export type Outcome = { ok: true; id: string } | Failure;

/** Reachability tests at once: under the platform's six connections, leaving room for the votes. */
const MAX_TESTS = 4;
/** Tests at once of relays on one deployment host. */
const MAX_TESTS_PER_HOST = 2;
/** Tests at once of relays on hosts none of whose relays ever passed: a flood of made-up addresses waits here. */
const MAX_UNPROVEN_TESTS = 1;
/** Distinct votes kept per authority and round: two already prove it equivocated. */
const MAX_VOTES_PER_AUTHORITY = 2;
/** Rounds kept for the status page and late signatures. */
const ROUNDS_KEPT = 10;
/** Points of a round (fractions of the period) where the alarm has work: vote, compute, collect signatures twice. */
const PHASES = [0, 0.5, 0.6, 0.8] as const;

export interface AuthorityStatus extends Authority {
  self: boolean;
  /** Its vote for the round shown: relays and flags by relay id; null when none is held. */
  vote: Map<string, RelayFlag[]> | null;
  /** It signed two different votes for that round: its votes do not count. */
  equivocated: boolean;
  /** Its signature is on the consensus served. */
  signed: boolean;
}

export interface StatusSnapshot {
  now: number;
  self: string;
  config: DirectoryConfig;
  round: number;
  authorities: AuthorityStatus[];
  consensus: { round: number; relays: ListedRelay[]; signatures: number; needed: number; validUntil: number } | null;
  relays: table.RelayRow[];
}

const fail = (error: DirectoryErrorCode, message: string): Failure => ({ ok: false, error, message });

export class Directory extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Reachability tests in flight: relay id → its host, and whether the host was proven when it started. */
  private readonly testing = new Map<string, { host: string; proven: boolean }>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => {
      table.createTables(this.sql);
      rounds.createTables(this.sql);
      // The rounds never stop: an authority that was asleep votes again as soon as anything wakes it.
      if ((await ctx.storage.getAlarm()) === null) await ctx.storage.setAlarm(Date.now());
    });
  }

  private get config(): DirectoryConfig {
    const parsed = parseConfig(this.env);
    if (!parsed.ok) throw new Error(parsed.message);
    return parsed.config;
  }

  private async self(): Promise<{ key: string; privateKey: CryptoKey }> {
    const pair = await signingKey(this.config.signingSeed);
    return { key: toBase64Url(pair.publicKey), privateKey: pair.privateKey };
  }

  private others(selfKey: string): Authority[] {
    return this.config.authorities.filter((authority) => authority.key !== selfKey);
  }

  private authorityTimeoutMs(): number {
    return Math.min(5_000, Math.floor(this.config.periodMs / 4));
  }

  // ── Relays: descriptors, retirements, reachability tests ─────────────────────────────────────

  /**
   * Takes a relay's descriptor (a new relay, or its periodic ping); tests it before ever voting for
   * it. The worker has already refused addresses this authority never considers (admission.ts).
   */
  async register(signed: SignedDescriptor): Promise<Outcome> {
    const d = signed.descriptor;
    if (!(await verifyDescriptor(signed))) return fail("bad_signature", "The descriptor's signature or id does not match its identity key.");
    // From here to the alarm check everything is synchronous, so no other request interleaves.
    const now = Date.now();
    const config = this.config;
    if (!isFresh(d.published, now)) return fail("stale_descriptor", "The descriptor's published time is more than 5 minutes from the authority's clock.");
    // A relay proves it is alive with a descriptor signed within the TTL; an older one is a replay.
    if (d.published < now - config.relayTtlMs) return fail("stale_descriptor", "The descriptor was published longer ago than the liveness TTL.");
    const known = table.getRelay(this.sql, d.id);
    if (known && d.published < known.published) return fail("stale_descriptor", "A newer descriptor of this relay is already registered.");
    const retiredAt = table.getRetirement(this.sql, d.id);
    if (retiredAt !== null && d.published <= retiredAt) return fail("stale_descriptor", "The relay retired after this descriptor was published.");
    // A repeat of the registered descriptor is accepted (a retry) but proves nothing new: only a
    // newer signed `published` keeps a relay alive, so replaying its last descriptor cannot.
    if (known && d.published === known.published) return { ok: true, id: d.id };
    // Descriptors that never passed a test make room for new ones: a flood cannot fill the table.
    if (!known && table.countRelays(this.sql) >= config.maxRelays && !table.evictUnproven(this.sql)) {
      return fail("directory_full", "The authority holds as many tested relays as it may.");
    }
    const changed = !known || !sameRelay(known, d);
    if (changed) table.insertUntested(this.sql, d, now);
    else table.touchRelay(this.sql, d.id, d.published, now);
    if (retiredAt !== null) table.deleteRetirement(this.sql, d.id);
    if (changed) this.startDueTests(now);
    await this.ensureAlarm();
    return { ok: true, id: d.id };
  }

  /** Removes a relay at once, on its own signed request: no vote of this authority names it again. */
  async retire(retirement: Retirement): Promise<Outcome> {
    const known = table.getRelay(this.sql, retirement.id);
    if (!known) return fail("unknown_relay", "No relay with this id is registered.");
    const valid = await ed25519Verify(fromBase64Url(known.identityKey), fromBase64Url(retirement.signature), retirementSigningBytes(retirement.id, retirement.at));
    if (!valid) return fail("bad_signature", "The retirement is not signed by the relay's identity key.");
    // Re-read: the relay may have re-posted while the signature was checked. A retirement older
    // than its current descriptor is a replay from an earlier life.
    const current = table.getRelay(this.sql, retirement.id) ?? known;
    if (!isFresh(retirement.at, Date.now()) || retirement.at < current.published) {
      return fail("stale_retirement", "The retirement's time is more than 5 minutes from the authority's clock or predates the relay's descriptor.");
    }
    table.deleteRelay(this.sql, retirement.id);
    table.recordRetirement(this.sql, retirement.id, retirement.at);
    await this.ensureAlarm();
    return { ok: true, id: retirement.id };
  }

  /**
   * Starts the tests that are due, within the limits: a few at once, at most two per host, and one
   * at a time for hosts none of whose relays ever passed — so descriptors with made-up addresses,
   * however many, wait in their own lane and never hold up the relays of known deployments.
   */
  private startDueTests(now: number): void {
    if (this.testing.size >= MAX_TESTS) return;
    const { testTimeoutMs } = this.config;
    for (const row of table.dueRelays(this.sql, now, 64)) {
      if (this.testing.size >= MAX_TESTS) break;
      if (this.testing.has(row.id)) continue;
      const running = [...this.testing.values()];
      if (running.filter((t) => t.host === row.host).length >= MAX_TESTS_PER_HOST) continue;
      const proven = table.isProvenHost(this.sql, row.host);
      if (!proven && running.filter((t) => !t.proven).length >= MAX_UNPROVEN_TESTS) continue;
      this.testing.set(row.id, { host: row.host, proven });
      table.leaseTest(this.sql, row.id, now + testTimeoutMs + 1_000);
      void this.runTest(row);
    }
  }

  private async runTest(row: table.RelayRow): Promise<void> {
    const { testTimeoutMs, retestMs } = this.config;
    try {
      const result = await probeRelay(row, testTimeoutMs);
      table.recordTest(this.sql, row, result.ok, result.ok ? null : result.reason, Date.now(), retestMs);
    } catch (error) {
      console.error("authority: reachability test failed to run", error instanceof Error ? error.name : typeof error);
    } finally {
      this.testing.delete(row.id);
      this.startDueTests(Date.now());
    }
  }

  // ── Rounds: vote, exchange votes, compute the consensus, collect signatures ────────────────

  private roundOf(now: number): number {
    const { periodMs } = this.config;
    return Math.floor(now / periodMs) * periodMs;
  }

  /** The flags this authority measured: Running (its last test passed), Exit, Stable and Guard by uptime. */
  private flagsOf(row: table.RelayRow, now: number): RelayFlag[] {
    const { stableAfterMs, guardAfterMs } = this.config;
    const up = now - (row.runningSince ?? now);
    const flags: RelayFlag[] = [];
    if (row.exitPolicy !== "none") flags.push("Exit");
    if (up >= stableAfterMs && up >= guardAfterMs) flags.push("Guard");
    flags.push("Running");
    if (up >= stableAfterMs) flags.push("Stable");
    return flags;
  }

  /** This authority's vote: the live relays whose last test passed, at most K per host, longest up first. */
  private async makeVote(round: number, now: number): Promise<SignedVote> {
    const config = this.config;
    const { key, privateKey } = await this.self();
    const perHost = new Map<string, number>();
    const relays: ListedRelay[] = [];
    for (const row of table.runningRelays(this.sql)) {
      if (row.lastSeen + config.relayTtlMs <= now || relays.length >= config.maxRelays) continue;
      if (config.allowedHosts && !config.allowedHosts.has(row.host)) continue;
      const count = perHost.get(row.host) ?? 0;
      if (count >= config.maxRelaysPerHost) continue;
      perHost.set(row.host, count + 1);
      relays.push({ id: row.id, address: row.address, onionKey: row.onionKey, identityKey: row.identityKey, exitPolicy: row.exitPolicy, published: row.published, flags: this.flagsOf(row, now) });
    }
    const signed = await signVote({ version: 1, authority: key, published: round, relays }, privateKey);
    rounds.storeVote(this.sql, round, key, signed);
    return signed;
  }

  /** A vote pushed by another authority (or relayed): kept when signed by a configured authority for a current round. */
  async receiveVote(signed: unknown): Promise<{ ok: true } | Failure> {
    const config = this.config;
    const { key } = await this.self();
    const vote = await openVote(signed, config.authorities.map((a) => a.key));
    if (!vote) return fail("bad_vote", "The vote is malformed or not signed by one of this authority's configured authorities.");
    if (vote.authority === key) return fail("bad_vote", "This authority makes its own votes.");
    return this.keepVote(vote, signed as SignedVote);
  }

  private keepVote(vote: VoteDocument, signed: SignedVote): { ok: true } | Failure {
    const current = this.roundOf(Date.now());
    const { periodMs } = this.config;
    if (vote.published % periodMs !== 0 || Math.abs(vote.published - current) > periodMs) {
      return fail("stale_vote", "The vote is not for the current round (or the one just before or after it).");
    }
    const held = rounds.votesOf(this.sql, vote.published).filter((v) => v.authority === vote.authority);
    if (held.length < MAX_VOTES_PER_AUTHORITY) rounds.storeVote(this.sql, vote.published, vote.authority, { document: signed.document, signature: signed.signature });
    return { ok: true };
  }

  /** Every vote held for `round` (its own and the others'), for the other authorities to pull. */
  async votes(round: number): Promise<SignedVote[]> {
    return rounds.votesOf(this.sql, round).map((stored) => stored.signed);
  }

  /** This authority's newest vote. */
  async ownVote(): Promise<SignedVote | null> {
    const { key } = await this.self();
    const [row] = this.sql.exec<{ document: string; signature: string }>("SELECT document, signature FROM votes WHERE authority = ? ORDER BY round DESC LIMIT 1", key).toArray();
    return row ? { document: row.document, signature: row.signature } : null;
  }

  /** Pulls the votes the other authorities hold for `round`, so this authority counts the same votes they do. */
  private async pullVotes(round: number, selfKey: string): Promise<void> {
    const keys = this.config.authorities.map((a) => a.key);
    const timeoutMs = this.authorityTimeoutMs();
    await Promise.all(
      this.others(selfKey).map(async (authority) => {
        const answer = await pullVotes(authority, round, timeoutMs).catch(() => []);
        for (const signed of answer) {
          const vote = await openVote(signed, keys);
          if (vote && vote.authority !== selfKey && vote.published === round) this.keepVote(vote, signed as SignedVote);
        }
      }),
    );
  }

  /** The consensus of `round`, from the votes held (an authority that signed two votes counts as not voting). */
  private async computeRound(round: number): Promise<void> {
    const config = this.config;
    const { key, privateKey } = await this.self();
    await this.pullVotes(round, key);
    if (rounds.consensusOf(this.sql, round) !== null) return;
    const byAuthority = new Map<string, SignedVote[]>();
    for (const stored of rounds.votesOf(this.sql, round)) byAuthority.set(stored.authority, [...(byAuthority.get(stored.authority) ?? []), stored.signed]);
    const votes: VoteDocument[] = [];
    for (const [, held] of byAuthority) if (held.length === 1) votes.push(JSON.parse(held[0]!.document) as VoteDocument);
    const document = computeConsensus(votes, { authorityCount: config.authorities.length, published: round, validUntil: round + 3 * config.periodMs, maxRelaysPerHost: config.maxRelaysPerHost });
    if (!document) return;
    const text = serializeConsensus(document);
    rounds.storeConsensus(this.sql, round, text);
    rounds.storeSignature(this.sql, round, await signConsensusText(text, key, privateKey));
  }

  /** Adds the other authorities' signatures over exactly this authority's document of `round`. */
  private async collectSignatures(round: number, selfKey: string): Promise<void> {
    const text = rounds.consensusOf(this.sql, round);
    if (text === null) return;
    const keys = this.config.authorities.map((a) => a.key);
    const missing = () => new Set(keys.filter((k) => !rounds.signaturesOf(this.sql, round).some((s) => s.authority === k)));
    if (missing().size === 0) return;
    const timeoutMs = this.authorityTimeoutMs();
    await Promise.all(
      this.others(selfKey).map(async (authority) => {
        const answer = v.safeParse(SignedConsensusSchema, await pullConsensus(authority, round, timeoutMs).catch(() => null));
        if (!answer.success || answer.output.document !== text) return;
        const wanted = missing();
        const offered = { document: text, signatures: answer.output.signatures.filter((s) => wanted.has(s.authority)) };
        const valid = new Set(await validSigners(offered, keys));
        for (const signature of offered.signatures) if (valid.has(signature.authority)) rounds.storeSignature(this.sql, round, signature);
      }),
    );
  }

  /** What the alarm does for the round under way: vote at its start, compute at half, collect signatures after. */
  private async runRound(now: number): Promise<void> {
    const { periodMs } = this.config;
    const round = this.roundOf(now);
    const offset = now - round;
    const { key } = await this.self();
    if (!rounds.hasVote(this.sql, round, key)) {
      const vote = await this.makeVote(round, now);
      const timeoutMs = this.authorityTimeoutMs();
      this.ctx.waitUntil(Promise.allSettled(this.others(key).map((authority) => pushVote(authority, vote, timeoutMs))));
    }
    if (offset >= periodMs / 2 && rounds.consensusOf(this.sql, round) === null) await this.computeRound(round);
    if (offset >= periodMs * 0.6) await this.collectSignatures(round, key);
    else await this.collectSignatures(round - periodMs, key);
    rounds.pruneRounds(this.sql, round - ROUNDS_KEPT * periodMs);
  }

  // ── Serving the consensus ────────────────────────────────────────────────────────────────────

  /** Signatures on `round`'s document by configured authorities (all were verified when stored). */
  private signatureCount(round: number): number {
    const keys = new Set(this.config.authorities.map((a) => a.key));
    return rounds.signaturesOf(this.sql, round).filter((s) => keys.has(s.authority)).length;
  }

  /**
   * The newest consensus that more than half of the authorities signed, with every signature this
   * authority has; else the newest it computed (clients will refuse it: too few signatures); null
   * before the first round is over.
   */
  async consensus(): Promise<SignedConsensus | null> {
    const needed = majorityOf(this.config.authorities.length);
    const held = rounds.consensusRounds(this.sql);
    const round = held.find((r) => this.signatureCount(r) >= needed) ?? held[0];
    return round === undefined ? null : rounds.signed(this.sql, round);
  }

  /** This authority's consensus of one round, for the other authorities to take signatures from. */
  async consensusOfRound(round: number): Promise<SignedConsensus | null> {
    return rounds.signed(this.sql, round);
  }

  async status(): Promise<StatusSnapshot> {
    const config = this.config;
    const now = Date.now();
    const { key } = await this.self();
    const served = await this.consensus();
    const servedDoc = served ? (JSON.parse(served.document) as { published: number; validUntil: number; relays: ListedRelay[] }) : null;
    // The newest round this authority voted in.
    const [latest] = this.sql.exec<{ round: number }>("SELECT max(round) AS round FROM votes WHERE authority = ?", key).toArray();
    const round = latest?.round ?? this.roundOf(now);
    const held = rounds.votesOf(this.sql, round);
    const signers = new Set(served?.signatures.map((s) => s.authority) ?? []);
    const authorities = config.authorities.map((authority): AuthorityStatus => {
      const mine = held.filter((stored) => stored.authority === authority.key);
      const vote = mine.length === 1 ? (JSON.parse(mine[0]!.signed.document) as VoteDocument) : null;
      return {
        ...authority,
        self: authority.key === key,
        vote: vote ? new Map(vote.relays.map((r) => [r.id, r.flags])) : null,
        equivocated: mine.length > 1,
        signed: signers.has(authority.key),
      };
    });
    return {
      now,
      self: key,
      config,
      round,
      authorities,
      consensus: servedDoc && served ? { round: servedDoc.published, relays: servedDoc.relays, signatures: this.signatureCount(servedDoc.published), needed: majorityOf(config.authorities.length), validUntil: servedDoc.validUntil } : null,
      relays: table.listRelays(this.sql),
    };
  }

  // ── The alarm ────────────────────────────────────────────────────────────────────────────────

  override async alarm(): Promise<void> {
    const now = Date.now();
    try {
      this.prune(now);
      this.startDueTests(now);
      await this.runRound(now);
    } catch (error) {
      console.error("authority: round failed", error instanceof Error ? error.name : typeof error);
    }
    await this.scheduleNextAlarm();
  }

  private prune(now: number): void {
    table.pruneDue(this.sql, now, this.config.relayTtlMs, FRESHNESS_WINDOW_MS);
  }

  private async ensureAlarm(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.scheduleNextAlarm();
  }

  /** partywhen's loop: the next alarm is the earliest of the next phase of the round, a prune and a test. */
  private async scheduleNextAlarm(): Promise<void> {
    const { periodMs, relayTtlMs } = this.config;
    const now = Date.now();
    const round = this.roundOf(now);
    const phase = [...PHASES, 1].map((f) => round + Math.floor(f * periodMs)).find((at) => at > now)!;
    let due = table.nextDeadline(this.sql, relayTtlMs, FRESHNESS_WINDOW_MS) ?? phase;
    // Tests already due wait for a free slot (a finished test starts the next): look again in a second.
    if (due <= now) due = now + 1_000;
    await this.ctx.storage.setAlarm(Math.min(phase, due));
  }
}
