// The consensus: the directory's signed list of live relays. The signature covers the exact
// UTF-8 bytes of `document`, so verifiers never re-serialise JSON.

import * as v from "valibot";
import { type Bytes, fromBase64Url, toBase64Url, utf8 } from "./bytes.ts";
import { DescriptorSchema, type Descriptor } from "./descriptor.ts";
import { ProtocolError } from "./errors.ts";
import { ed25519Sign, ed25519Verify } from "./x25519.ts";

const CONSENSUS_CONTEXT = "shallot-consensus-v1\n";

export const ConsensusDocumentSchema = v.strictObject({
  version: v.literal(1),
  published: v.pipe(v.number(), v.integer()),
  validUntil: v.pipe(v.number(), v.integer()),
  relays: v.array(DescriptorSchema),
});
export type ConsensusDocument = v.InferOutput<typeof ConsensusDocumentSchema>;

export const SignedConsensusSchema = v.strictObject({
  document: v.pipe(v.string(), v.maxLength(4 * 1024 * 1024)),
  signature: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{86}$/)),
});
export type SignedConsensus = v.InferOutput<typeof SignedConsensusSchema>;

const signingBytes = (document: string) => utf8(CONSENSUS_CONTEXT + document);

export async function signConsensus(document: ConsensusDocument, signingKey: CryptoKey): Promise<SignedConsensus> {
  const text = JSON.stringify(document);
  return { document: text, signature: toBase64Url(await ed25519Sign(signingKey, signingBytes(text))) };
}

/** Max clock skew tolerated between directory and sender. */
export const CONSENSUS_SKEW_MS = 60_000;

/**
 * Checks the signature against the pinned directory key, then the freshness, and only then parses.
 * Throws bad_signature / stale_consensus / malformed_message.
 */
export async function verifyConsensus(signed: unknown, directoryKey: Bytes, now: number): Promise<ConsensusDocument> {
  const envelope = v.safeParse(SignedConsensusSchema, signed);
  if (!envelope.success) throw new ProtocolError("malformed_message", "The consensus is not a signed document.");
  const { document, signature } = envelope.output;
  if (!(await ed25519Verify(directoryKey, fromBase64Url(signature), signingBytes(document)))) {
    throw new ProtocolError("bad_signature", "The consensus signature does not verify against the pinned directory key.");
  }
  let parsed: v.SafeParseResult<typeof ConsensusDocumentSchema>;
  try {
    parsed = v.safeParse(ConsensusDocumentSchema, JSON.parse(document));
  } catch {
    throw new ProtocolError("malformed_message", "The consensus document is not JSON.");
  }
  if (!parsed.success) throw new ProtocolError("malformed_message", "The consensus document is malformed.");
  if (parsed.output.validUntil + CONSENSUS_SKEW_MS < now) throw new ProtocolError("stale_consensus", "The consensus has expired.");
  return parsed.output;
}

export type { Descriptor };
