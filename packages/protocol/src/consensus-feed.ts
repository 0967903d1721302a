// An onion proxy's copy of the consensus: refetched when older than `maxAgeMs` or when told to
// (after a circuit failed), one fetch at a time, and never stepping back to a document older than
// one already verified — a replayed consensus cannot bring back relays that have left.

import { CONSENSUS_SKEW_MS, type ConsensusDocument } from "./consensus.ts";
import { ProtocolError } from "./errors.ts";

export const CONSENSUS_MAX_AGE_MS = 5_000;

export interface ConsensusFeedOptions {
  /** Fetches the consensus and verifies it against the pinned directory key; throws when it cannot. */
  fetch: () => Promise<ConsensusDocument>;
  /** Milliseconds since the epoch (consensus times are wall-clock times). */
  clock: () => number;
  maxAgeMs?: number;
}

export class ConsensusFeed {
  private latest: { document: ConsensusDocument; fetchedAt: number } | null = null;
  private pending: { generation: number; promise: Promise<ConsensusDocument> } | null = null;
  /** Bumped by refresh(): a fetch started before it cannot answer a get() made after it. */
  private generation = 0;
  private readonly options: ConsensusFeedOptions;
  private readonly maxAgeMs: number;

  constructor(options: ConsensusFeedOptions) {
    this.options = options;
    this.maxAgeMs = options.maxAgeMs ?? CONSENSUS_MAX_AGE_MS;
  }

  /** The newest verified document held, without fetching. */
  get current(): ConsensusDocument | null {
    return this.latest?.document ?? null;
  }

  /** Whether the held document is old enough that the next get() fetches. */
  get isStale(): boolean {
    return !this.latest || this.options.clock() - this.latest.fetchedAt >= this.maxAgeMs;
  }

  async get(): Promise<ConsensusDocument> {
    if (this.latest && !this.isStale) return this.latest.document;
    if (this.pending?.generation !== this.generation) {
      const generation = this.generation;
      const promise = this.fetchNewest().finally(() => {
        if (this.pending?.generation === generation) this.pending = null;
      });
      this.pending = { generation, promise };
    }
    return this.pending!.promise;
  }

  /** The next get() fetches again (a relay failed: the directory may know better by now). */
  refresh(): void {
    if (this.latest) this.latest.fetchedAt = -Infinity;
    this.generation++;
  }

  private usable(document: ConsensusDocument, now: number): boolean {
    return document.validUntil + CONSENSUS_SKEW_MS >= now;
  }

  private async fetchNewest(): Promise<ConsensusDocument> {
    let document: ConsensusDocument;
    try {
      document = await this.options.fetch();
    } catch (error) {
      // The directory could not be asked, or its answer is unusable: a document already verified
      // serves while it is valid, and the next get() asks again after maxAgeMs.
      const now = this.options.clock();
      if (this.latest && this.usable(this.latest.document, now)) {
        this.latest.fetchedAt = now;
        return this.latest.document;
      }
      throw error;
    }
    const now = this.options.clock();
    if (this.latest && document.published < this.latest.document.published) {
      if (!this.usable(this.latest.document, now)) {
        throw new ProtocolError("stale_consensus", "The directory serves an older consensus than one already seen, and that one has expired.");
      }
      this.latest.fetchedAt = now;
      return this.latest.document;
    }
    this.latest = { document, fetchedAt: now };
    return document;
  }
}
