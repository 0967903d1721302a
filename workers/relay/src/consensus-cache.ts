// The gateway's verified copy of the consensus, refreshed when older than `maxAgeMs`.

import type { ConsensusDocument } from "@shallot/protocol";
import { fetchConsensus } from "./directory-client.ts";
import type { Env } from "./env.ts";

export class ConsensusCache {
  private cached: { document: ConsensusDocument; fetchedAt: number } | null = null;
  private pending: Promise<ConsensusDocument> | null = null;

  constructor(private readonly maxAgeMs: number) {}

  async get(env: Env, now: number): Promise<ConsensusDocument> {
    if (this.cached && now - this.cached.fetchedAt < this.maxAgeMs) return this.cached.document;
    // One fetch serves every request that arrives while it is under way.
    this.pending ??= fetchConsensus(env, now)
      .then((document) => {
        // Never step back to an older consensus than one already verified (a replayed document).
        if (this.cached && document.published < this.cached.document.published) {
          this.cached.fetchedAt = now; // keep the newer copy, and do not refetch on every request
          return this.cached.document;
        }
        this.cached = { document, fetchedAt: now };
        return document;
      })
      .finally(() => {
        this.pending = null;
      });
    return this.pending;
  }

  /** Refetch on next use (after a circuit through it failed to build). */
  invalidate(): void {
    if (this.cached) this.cached.fetchedAt = -Infinity;
  }
}
