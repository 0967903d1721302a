// Votes and the consensus computed from them (Tor's dir-spec, in spirit). Each authority signs a
// vote per round: the relays it tested and would list, with the flags it measured. Every authority
// then computes the consensus from the same votes with the same rule, so they all sign one document:
// a relay is listed only when more than half of ALL configured authorities voted for it with the
// same descriptor, a flag only when more than half of those votes carry it, and no host has more
// than `maxRelaysPerHost` relays. One authority alone can therefore neither add nor drop a relay.

import * as v from "valibot";
import { majorityOf } from "./authorities.ts";
import { type Bytes, fromBase64Url, toBase64Url, utf8 } from "./bytes.ts";
import { type ConsensusDocument, type ListedRelay, ListedRelaySchema, RELAY_FLAGS, type RelayFlag, canonicalRelay, hasFlag, sortFlags } from "./consensus.ts";
import { deploymentHost, sameRelay } from "./descriptor.ts";
import { ed25519Sign, ed25519Verify } from "./x25519.ts";

const VOTE_CONTEXT = "shallot-vote-v1\n";

export const VoteDocumentSchema = v.strictObject({
  version: v.literal(1),
  /** The voting authority's key (base64url). */
  authority: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/)),
  /** The round: its start time, a multiple of the consensus period. */
  published: v.pipe(v.number(), v.integer(), v.minValue(0)),
  relays: v.pipe(v.array(ListedRelaySchema), v.maxLength(10_000)),
});
export type VoteDocument = v.InferOutput<typeof VoteDocumentSchema>;

export const SignedVoteSchema = v.strictObject({
  document: v.pipe(v.string(), v.maxLength(4 * 1024 * 1024)),
  signature: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{86}$/)),
});
export type SignedVote = v.InferOutput<typeof SignedVoteSchema>;

export const voteSigningBytes = (document: string): Bytes => utf8(VOTE_CONTEXT + document);

/** The vote's text: members in a fixed order, relays sorted by id. */
export function serializeVote(vote: VoteDocument): string {
  return JSON.stringify({
    version: vote.version,
    authority: vote.authority,
    published: vote.published,
    relays: [...vote.relays].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(canonicalRelay),
  });
}

export async function signVote(vote: VoteDocument, signingKey: CryptoKey): Promise<SignedVote> {
  const document = serializeVote(vote);
  return { document, signature: toBase64Url(await ed25519Sign(signingKey, voteSigningBytes(document))) };
}

/**
 * The vote inside `signed` when it is well formed, names one of `authorityKeys` and is signed by
 * that key; null otherwise. (Relayed votes are checked the same way: the signature is what counts.)
 */
export async function openVote(signed: unknown, authorityKeys: readonly string[]): Promise<VoteDocument | null> {
  const envelope = v.safeParse(SignedVoteSchema, signed);
  if (!envelope.success) return null;
  let parsed: v.SafeParseResult<typeof VoteDocumentSchema>;
  try {
    parsed = v.safeParse(VoteDocumentSchema, JSON.parse(envelope.output.document));
  } catch {
    return null;
  }
  if (!parsed.success || !authorityKeys.includes(parsed.output.authority)) return null;
  const valid = await ed25519Verify(fromBase64Url(parsed.output.authority), fromBase64Url(envelope.output.signature), voteSigningBytes(envelope.output.document));
  return valid ? parsed.output : null;
}

export interface ConsensusRules {
  /** How many authorities are configured: a relay needs votes from more than half of them. */
  authorityCount: number;
  /** The round's start (the votes' `published`): the consensus is published at it. */
  published: number;
  /** When clients stop trusting the document. */
  validUntil: number;
  /** At most this many relays of one deployment host are listed (Tor lists 2 per IP address). */
  maxRelaysPerHost: number;
}

/**
 * The consensus of one round, or null when fewer than a majority of the authorities voted (then
 * no relay could be listed, and an empty list must not be signed as if the network were empty).
 * `votes` holds at most one vote per authority, all for `rules.published`; the caller drops the
 * votes of an authority that signed two different ones.
 */
export function computeConsensus(votes: readonly VoteDocument[], rules: ConsensusRules): ConsensusDocument | null {
  const counted = votes.filter((vote) => vote.published === rules.published);
  if (new Set(counted.map((vote) => vote.authority)).size !== counted.length) throw new Error("computeConsensus takes at most one vote per authority.");
  const needed = majorityOf(rules.authorityCount);
  if (counted.length < needed) return null;

  // Every vote for each relay id, grouped by the descriptor it names: only one variant can reach a majority.
  const byId = new Map<string, ListedRelay[][]>();
  for (const vote of counted) {
    for (const relay of vote.relays) {
      const variants = byId.get(relay.id) ?? [];
      const same = variants.find((group) => sameRelay(group[0]!, relay));
      if (same) same.push(relay);
      else variants.push([relay]);
      byId.set(relay.id, variants);
    }
  }

  const listed: { relay: ListedRelay; votes: number }[] = [];
  for (const variants of byId.values()) {
    const winner = variants.find((group) => group.length >= needed);
    if (!winner) continue;
    const flags = RELAY_FLAGS.filter((flag: RelayFlag) => winner.filter((relay) => hasFlag(relay, flag)).length * 2 > winner.length);
    const published = Math.max(...winner.map((relay) => relay.published));
    listed.push({ relay: canonicalRelay({ ...winner[0]!, published, flags: sortFlags(flags) }), votes: winner.length });
  }

  // The per-host limit, in an order every authority computes alike: most votes, then Guard, then
  // Stable, then the lowest id.
  const rank = (entry: { relay: ListedRelay; votes: number }) => [-entry.votes, hasFlag(entry.relay, "Guard") ? 0 : 1, hasFlag(entry.relay, "Stable") ? 0 : 1];
  listed.sort((a, b) => {
    const [ra, rb] = [rank(a), rank(b)];
    for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i]! - rb[i]!;
    return a.relay.id < b.relay.id ? -1 : a.relay.id > b.relay.id ? 1 : 0;
  });
  const perHost = new Map<string, number>();
  const relays = listed
    .filter(({ relay }) => {
      const host = deploymentHost(relay.address);
      const count = perHost.get(host) ?? 0;
      perHost.set(host, count + 1);
      return count < rules.maxRelaysPerHost;
    })
    .map(({ relay }) => relay)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  return { version: 2, published: rules.published, validUntil: rules.validUntil, voters: counted.map((vote) => vote.authority).sort(), relays };
}
