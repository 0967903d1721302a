// Talks to the other authorities: pushes this authority's vote, pulls the votes they hold for a
// round, and pulls their consensus of a round (for its signatures). Every call has a deadline and
// a bounded answer: one authority that is down or slow delays nothing but its own call.

import { type Authority, readBodyWithin, type SignedConsensus, type SignedVote, withDeadline } from "@shallot/protocol";

/** Votes and consensuses are at most 4 MiB of document; a round's votes, a few of those. */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

async function getJson(url: string, timeoutMs: number): Promise<unknown> {
  return withDeadline(timeoutMs, async (signal) => {
    const response = await fetch(url, { signal, redirect: "manual" });
    const body = await readBodyWithin(response, MAX_ANSWER_BYTES);
    if (!response.ok || !body) throw new Error(`${url} answered ${response.status}`);
    return JSON.parse(new TextDecoder().decode(body));
  });
}

export async function pushVote(authority: Authority, vote: SignedVote, timeoutMs: number): Promise<void> {
  await withDeadline(timeoutMs, async (signal) => {
    const response = await fetch(`${authority.url}/votes`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(vote), signal, redirect: "manual" });
    await response.body?.cancel();
  });
}

/** The votes `authority` holds for `round` (unchecked: the caller opens each). */
export async function pullVotes(authority: Authority, round: number, timeoutMs: number): Promise<unknown[]> {
  const answer = await getJson(`${authority.url}/votes/${round}`, timeoutMs);
  return Array.isArray(answer) ? answer.slice(0, 64) : [];
}

/** `authority`'s consensus of `round` with the signatures it has (unchecked). */
export async function pullConsensus(authority: Authority, round: number, timeoutMs: number): Promise<SignedConsensus | unknown> {
  return getJson(`${authority.url}/consensus/${round}`, timeoutMs);
}
