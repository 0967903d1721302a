// A client's consensus fetch: ask every pinned authority at once, keep only what verifies (more than
// half of the pinned keys signed it), and answer with the newest verified document among those in
// by a short moment after the first one. So one authority that is down, slow or lying neither stops
// nor delays a client, and one that serves an old consensus cannot hold a client back. The fetch of
// one authority (with its deadline) and the waiting are the caller's.

import type { Authority } from "./authorities.ts";
import { type VerifiedConsensus, checkConsensus } from "./consensus.ts";
import { isProtocolError } from "./errors.ts";

/** After the first verified answer, how long the other authorities still have to answer. */
export const CONSENSUS_SETTLE_MS = 300;

export interface AuthorityFetchOptions {
  authorities: readonly Authority[];
  /** GETs `<authority.url>/consensus` and returns the JSON body; throws when there is none (unreachable, non-2xx, not JSON). */
  get: (authority: Authority) => Promise<unknown>;
  /** Milliseconds since the epoch, for the document's freshness. */
  now: () => number;
  settleMs?: number;
  /** Resolves after `ms` (setTimeout when absent). */
  wait?: (ms: number) => Promise<void>;
}

/** No authority served a consensus at all; `failures` says what happened at each. */
export class ConsensusUnavailableError extends Error {
  override readonly name = "ConsensusUnavailableError";
  readonly failures: { authority: Authority; error: unknown }[];
  constructor(failures: { authority: Authority; error: unknown }[]) {
    super(`No directory authority could be reached: ${failures.map(({ authority, error }) => `${authority.url} (${error instanceof Error ? error.message : String(error)})`).join("; ")}.`);
    this.failures = failures;
  }
}

export interface FetchedConsensus extends VerifiedConsensus {
  /** The authority whose answer was used. */
  from: Authority;
}

/**
 * The newest consensus that verifies. Throws the verification error (bad_signature, stale_consensus,
 * malformed_message) when authorities answered but nothing verified, ConsensusUnavailableError when
 * none answered.
 */
export function consensusFromAuthorities(options: AuthorityFetchOptions): Promise<FetchedConsensus> {
  const keys = options.authorities.map((authority) => authority.key);
  const wait = options.wait ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  return new Promise((resolve, reject) => {
    const verified: FetchedConsensus[] = [];
    const unreachable: { authority: Authority; error: unknown }[] = [];
    let refused: unknown = null;
    let pending = options.authorities.length;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      const newest = verified.reduce<FetchedConsensus | null>((best, next) => (!best || next.document.published > best.document.published ? next : best), null);
      if (newest) resolve(newest);
      else if (refused) reject(refused);
      else reject(new ConsensusUnavailableError(unreachable));
    };
    if (pending === 0) return finish();
    for (const authority of options.authorities) {
      void (async () => {
        try {
          const body = await options.get(authority);
          const checked = await checkConsensus(body, keys, options.now());
          verified.push({ ...checked, from: authority });
          if (verified.length === 1) void wait(options.settleMs ?? CONSENSUS_SETTLE_MS).then(finish);
        } catch (error) {
          if (isProtocolError(error)) refused ??= error;
          else unreachable.push({ authority, error });
        } finally {
          if (--pending === 0) finish();
        }
      })();
    }
  });
}
