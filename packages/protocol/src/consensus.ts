// The consensus: the list of relays that more than half of the directory authorities voted for,
// with the flags they agreed on, signed by each authority that computed the same document. The
// signatures cover the exact UTF-8 bytes of `document`, so verifiers never re-serialise JSON, and a
// client accepts the document only when more than half of the authorities it pins signed it.

import * as v from "valibot";
import { majorityOf } from "./authorities.ts";
import { type Bytes, fromBase64Url, toBase64Url, utf8 } from "./bytes.ts";
import { type Descriptor, DescriptorEntries, canonicalAddressCheck } from "./descriptor.ts";
import { ProtocolError } from "./errors.ts";
import { ed25519Sign, ed25519Verify } from "./x25519.ts";

const CONSENSUS_CONTEXT = "shallot-consensus-v2\n";

/**
 * Flags, in the (alphabetical) order documents list them:
 * - Exit: its exit policy allows something;
 * - Guard: stable for longer (the client's entry comes from these);
 * - Running: it passed its last reachability test;
 * - Stable: up for long enough.
 */
export const RELAY_FLAGS = ["Exit", "Guard", "Running", "Stable"] as const;
export type RelayFlag = (typeof RELAY_FLAGS)[number];

const FLAG_ORDER = new Map(RELAY_FLAGS.map((flag, i) => [flag, i]));
/** Flags sorted and without repeats: the one form documents carry. */
export const sortFlags = (flags: Iterable<RelayFlag>): RelayFlag[] => [...new Set(flags)].sort((a, b) => FLAG_ORDER.get(a)! - FLAG_ORDER.get(b)!);

export const FlagsSchema = v.pipe(
  v.array(v.picklist(RELAY_FLAGS)),
  v.check((flags) => flags.every((flag, i) => i === 0 || FLAG_ORDER.get(flags[i - 1]!)! < FLAG_ORDER.get(flag)!), "Flags are listed once each, in order."),
);

/** A relay as a vote or the consensus lists it: its descriptor and its flags. */
export const ListedRelaySchema = v.pipe(v.strictObject({ ...DescriptorEntries, flags: FlagsSchema }), canonicalAddressCheck());
export type ListedRelay = v.InferOutput<typeof ListedRelaySchema>;

export const hasFlag = (relay: { flags: readonly RelayFlag[] }, flag: RelayFlag): boolean => relay.flags.includes(flag);

/** Most relays a document may list: far more than MAX_RELAYS, far less than the 4 MiB a document may be. */
const MAX_LISTED = 10_000;
const Time = v.pipe(v.number(), v.integer(), v.minValue(0));
const AuthorityKey = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/));

export const ConsensusDocumentSchema = v.strictObject({
  version: v.literal(2),
  published: Time,
  validUntil: Time,
  /** Keys of the authorities whose votes it was computed from, sorted. */
  voters: v.pipe(v.array(AuthorityKey), v.maxLength(16)),
  relays: v.pipe(v.array(ListedRelaySchema), v.maxLength(MAX_LISTED)),
});
export type ConsensusDocument = v.InferOutput<typeof ConsensusDocumentSchema>;

export const AuthoritySignatureSchema = v.strictObject({
  authority: AuthorityKey,
  signature: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{86}$/)),
});
export type AuthoritySignature = v.InferOutput<typeof AuthoritySignatureSchema>;

export const SignedConsensusSchema = v.strictObject({
  document: v.pipe(v.string(), v.maxLength(4 * 1024 * 1024)),
  signatures: v.pipe(v.array(AuthoritySignatureSchema), v.maxLength(16)),
});
export type SignedConsensus = v.InferOutput<typeof SignedConsensusSchema>;

export const consensusSigningBytes = (document: string): Bytes => utf8(CONSENSUS_CONTEXT + document);

/** One listed relay with its members in the canonical order. */
export const canonicalRelay = (r: ListedRelay): ListedRelay => ({
  id: r.id,
  address: r.address,
  onionKey: r.onionKey,
  identityKey: r.identityKey,
  exitPolicy: r.exitPolicy,
  published: r.published,
  flags: sortFlags(r.flags),
});

/**
 * The document's text: members in a fixed order, relays sorted by id, voters sorted. Every authority
 * that computes the same consensus gets the same bytes, so their signatures are over one text.
 */
export function serializeConsensus(document: ConsensusDocument): string {
  return JSON.stringify({
    version: document.version,
    published: document.published,
    validUntil: document.validUntil,
    voters: [...document.voters].sort(),
    relays: [...document.relays].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(canonicalRelay),
  });
}

/** One authority's signature over the document's text. */
export async function signConsensusText(text: string, authorityKey: string, signingKey: CryptoKey): Promise<AuthoritySignature> {
  return { authority: authorityKey, signature: toBase64Url(await ed25519Sign(signingKey, consensusSigningBytes(text))) };
}

/** Max clock skew tolerated between the authorities and a client. */
export const CONSENSUS_SKEW_MS = 60_000;

/** The pinned keys whose signature on `signed.document` verifies (each counted once; others ignored). */
export async function validSigners(signed: SignedConsensus, pinnedKeys: readonly string[]): Promise<string[]> {
  const pinned = new Set(pinnedKeys);
  const bytes = consensusSigningBytes(signed.document);
  const checked = new Map<string, Promise<boolean>>();
  for (const { authority, signature } of signed.signatures) {
    if (!pinned.has(authority) || checked.has(authority)) continue;
    checked.set(authority, ed25519Verify(fromBase64Url(authority), fromBase64Url(signature), bytes));
  }
  const results = await Promise.all([...checked].map(async ([authority, valid]) => ((await valid) ? authority : null)));
  return results.filter((authority): authority is string => authority !== null);
}

/** A verified consensus: the document and the pinned authorities whose signatures it carries. */
export interface VerifiedConsensus {
  document: ConsensusDocument;
  signers: string[];
}

/**
 * Checks the signatures against the pinned authority keys — more than half of them must have
 * signed — then parses, then checks the freshness. Throws bad_signature / malformed_message /
 * stale_consensus.
 */
export async function checkConsensus(signed: unknown, pinnedKeys: readonly string[], now: number): Promise<VerifiedConsensus> {
  const envelope = v.safeParse(SignedConsensusSchema, signed);
  if (!envelope.success) throw new ProtocolError("malformed_message", "The consensus is not a signed document.");
  const needed = majorityOf(new Set(pinnedKeys).size);
  const signers = await validSigners(envelope.output, pinnedKeys);
  if (pinnedKeys.length === 0 || signers.length < needed) {
    throw new ProtocolError(
      "bad_signature",
      `The consensus carries valid signatures from ${signers.length} of the ${new Set(pinnedKeys).size} pinned authorities; more than half (${needed}) are needed.`,
    );
  }
  let parsed: v.SafeParseResult<typeof ConsensusDocumentSchema>;
  try {
    parsed = v.safeParse(ConsensusDocumentSchema, JSON.parse(envelope.output.document));
  } catch {
    throw new ProtocolError("malformed_message", "The consensus document is not JSON.");
  }
  if (!parsed.success) throw new ProtocolError("malformed_message", "The consensus document is malformed.");
  if (parsed.output.validUntil + CONSENSUS_SKEW_MS < now) throw new ProtocolError("stale_consensus", "The consensus has expired.");
  return { document: parsed.output, signers };
}

/** checkConsensus, for callers that only need the document. */
export async function verifyConsensus(signed: unknown, pinnedKeys: readonly string[], now: number): Promise<ConsensusDocument> {
  return (await checkConsensus(signed, pinnedKeys, now)).document;
}

export type { Descriptor };
