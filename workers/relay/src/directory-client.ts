// Talks to the directory authorities: posts this relay's descriptor to every one of them (the ping),
// retires it at every one, and fetches the consensus (from all of them at once, keeping the newest
// that more than half of them signed). Each authority gets its own call with its own deadline, all
// at once: one that is down or slow delays no other.

import { type Authority, consensusFromAuthorities, ConsensusUnavailableError, type FetchedConsensus, isProtocolError, type Retirement, type SignedDescriptor, withDeadline } from "@shallot/protocol";
import { type Env, readConfig } from "./env.ts";

export class DirectoryError extends Error {
  override readonly name = "DirectoryError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const CONSENSUS_TIMEOUT_MS = 10_000;

function authorities(env: Env): Authority[] {
  const list = readConfig(env).authorities;
  if (list.length === 0) throw new DirectoryError("directory_unconfigured", "DIRECTORY_AUTHORITIES (the pinned directory authorities) is not configured.");
  return list;
}

const json = (body: unknown, signal: AbortSignal): RequestInit => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal });

/** Posts the descriptor to one authority; returns the ping interval it asks for, when it names one. */
function publishTo(authority: Authority, signed: SignedDescriptor, timeoutMs: number): Promise<number | undefined> {
  // An authority that stalls must not stall the relay's heartbeat with it.
  return withDeadline(timeoutMs, async (signal) => {
    const response = await fetch(`${authority.url}/descriptors`, json(signed, signal));
    if (!response.ok) {
      await response.body?.cancel();
      throw new DirectoryError("directory_refused", `The authority at ${authority.url} refused the descriptor (${response.status}).`);
    }
    const answer = (await response.json().catch(() => null)) as { pingIntervalMs?: unknown } | null;
    const interval = answer?.pingIntervalMs;
    return typeof interval === "number" && Number.isInteger(interval) && interval > 0 ? interval : undefined;
  });
}

/**
 * Posts the descriptor to every authority at once, each within `timeoutMs`. Returns the shortest
 * ping interval any of them asks for, and how many took it; never throws.
 */
export async function publishDescriptor(env: Env, signed: SignedDescriptor, timeoutMs: number): Promise<{ pingIntervalMs: number | undefined; accepted: number; failed: number }> {
  let list: Authority[];
  try {
    list = authorities(env);
  } catch {
    return { pingIntervalMs: undefined, accepted: 0, failed: 0 };
  }
  const results = await Promise.allSettled(list.map((authority) => publishTo(authority, signed, timeoutMs)));
  const intervals = results.flatMap((result) => (result.status === "fulfilled" && result.value !== undefined ? [result.value] : []));
  const accepted = results.filter((result) => result.status === "fulfilled").length;
  return { pingIntervalMs: intervals.length > 0 ? Math.min(...intervals) : undefined, accepted, failed: results.length - accepted };
}

/** Tells every authority at once; an authority that does not know the relay (404) counts as done. */
export async function retireDescriptor(env: Env, retirement: Retirement, timeoutMs: number): Promise<void> {
  const list = authorities(env);
  await Promise.allSettled(
    list.map((authority) =>
      withDeadline(timeoutMs, async (signal) => {
        const response = await fetch(`${authority.url}/descriptors/${retirement.id}`, { ...json(retirement, signal), method: "DELETE" });
        await response.body?.cancel();
        if (!response.ok && response.status !== 404) throw new DirectoryError("directory_refused", `The authority at ${authority.url} refused the retirement (${response.status}).`);
      }),
    ),
  );
}

/** The newest consensus more than half of the pinned authorities signed, fetched from all of them at once. */
export async function fetchConsensus(env: Env, now: () => number = Date.now): Promise<FetchedConsensus> {
  const list = authorities(env);
  try {
    return await consensusFromAuthorities({
      authorities: list,
      now,
      get: (authority) =>
        withDeadline(CONSENSUS_TIMEOUT_MS, async (signal) => {
          const response = await fetch(`${authority.url}/consensus`, { signal });
          if (!response.ok) {
            await response.body?.cancel();
            throw new Error(`answered ${response.status}`);
          }
          return response.json();
        }),
    });
  } catch (error) {
    // A consensus that fails verification is never used: the network is unusable until a good one comes.
    if (isProtocolError(error)) throw new DirectoryError(error.code, error.message);
    if (error instanceof ConsensusUnavailableError) throw new DirectoryError("directory_unreachable", error.message);
    throw new DirectoryError("directory_unreachable", "No directory authority could be reached.");
  }
}
