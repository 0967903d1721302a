// Every body of the auth server's JSON API, shared by the server and its clients (docs/auth.md).

import * as v from "valibot";
import { isBase64OfLength } from "./base64.ts";
import { MECHANISMS, SCRAM_SHA_256, SEED_HASHES } from "./mechanisms.ts";
import { SCRAM_KEY_BYTES, SCRAM_MAX_ITERATIONS, SCRAM_MAX_SALT_BYTES, SCRAM_MIN_ITERATIONS, SCRAM_MIN_SALT_BYTES } from "./scram.ts";

/** 1–64 printable characters (code points): no control, format, surrogate, private-use, unassigned or line/paragraph separators. */
export const USERNAME_PATTERN = /^[^\p{C}\p{Zl}\p{Zp}]{1,64}$/u;

/**
 * One spelling per name a reader sees: in Unicode NFC (so "café" composed and decomposed are not two
 * accounts); no space but U+0020, and that never at either end nor twice in a row; no combining mark
 * first; nothing that renders as nothing (default-ignorable code points such as U+034F or U+FE0F,
 * Hangul fillers, the braille blank U+2800).
 */
export const isCanonicalUsername = (name: string): boolean =>
  name === name.normalize("NFC") &&
  !/^[\p{Z}\p{M}]|\p{Z}$|  /u.test(name) &&
  !/[^\P{Z} ]/u.test(name) &&
  !/[\p{Default_Ignorable_Code_Point}\u2800]/u.test(name);

export const UsernameSchema = v.pipe(
  v.string(),
  v.regex(USERNAME_PATTERN, "A username is 1 to 64 printable characters."),
  v.check(isCanonicalUsername, "A username must be in Unicode NFC, and may not start or end with a space or start with a combining mark."),
);

export const MechanismSchema = v.picklist(MECHANISMS, `A mechanism is one of ${MECHANISMS.join(", ")}.`);

const lowerHex = (length: number, what: string) =>
  v.pipe(v.string(), v.regex(new RegExp(`^[0-9a-f]{${length}}$`), `${what} is ${length} lowercase hex characters.`));

const base64Bytes = (min: number, max: number, what: string) =>
  v.pipe(
    v.string(),
    v.maxLength(128),
    v.check((text) => isBase64OfLength(text, min, max), min === max ? `${what} is ${min} bytes in padded base64.` : `${what} is ${min} to ${max} bytes in padded base64.`),
  );

const seedRegistration = <M extends keyof typeof SEED_HASHES>(mechanism: M) =>
  v.strictObject({ username: UsernameSchema, mechanism: v.literal(mechanism), hash: lowerHex(SEED_HASHES[mechanism].hexLength, `A ${mechanism} hash`) });

export const ScramRegistrationSchema = v.strictObject({
  username: UsernameSchema,
  mechanism: v.literal(SCRAM_SHA_256),
  salt: base64Bytes(SCRAM_MIN_SALT_BYTES, SCRAM_MAX_SALT_BYTES, "A salt"),
  iterations: v.pipe(
    v.number(),
    v.integer("iterations must be an integer."),
    v.minValue(SCRAM_MIN_ITERATIONS, `iterations must be at least ${SCRAM_MIN_ITERATIONS}.`),
    v.maxValue(SCRAM_MAX_ITERATIONS, `iterations must be at most ${SCRAM_MAX_ITERATIONS} (the Workers PBKDF2 limit).`),
  ),
  storedKey: base64Bytes(SCRAM_KEY_BYTES, SCRAM_KEY_BYTES, "storedKey"),
  serverKey: base64Bytes(SCRAM_KEY_BYTES, SCRAM_KEY_BYTES, "serverKey"),
});
export type ScramRegistration = v.InferOutput<typeof ScramRegistrationSchema>;

/** A registration in clear, the body of POST /register and POST /rotate (or the plaintext of a sealed one). */
export const RegistrationSchema = v.variant(
  "mechanism",
  [seedRegistration("sha256"), seedRegistration("sha384"), seedRegistration("sha512"), ScramRegistrationSchema],
  `mechanism must be one of ${MECHANISMS.join(", ")}.`,
);
export type Registration = v.InferOutput<typeof RegistrationSchema>;
export type SeedRegistration = Exclude<Registration, ScramRegistration>;

export const KeyIdSchema = lowerHex(16, "A key id");

/** An HPKE-sealed registration: base64url fields, see sealed.ts for the suite and info. */
export const SealedSchema = v.strictObject({
  keyId: KeyIdSchema,
  enc: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/, "enc is 32 bytes in base64url.")),
  ciphertext: v.pipe(v.string(), v.minLength(22), v.maxLength(12_000), v.regex(/^[A-Za-z0-9_-]+$/, "ciphertext is base64url.")),
});
export type Sealed = v.InferOutput<typeof SealedSchema>;
export const SealedRegistrationSchema = v.strictObject({ sealed: SealedSchema });
export type SealedRegistration = v.InferOutput<typeof SealedRegistrationSchema>;

export const RegisterRequestSchema = v.union([SealedRegistrationSchema, RegistrationSchema]);
export type RegisterRequest = v.InferOutput<typeof RegisterRequestSchema>;
/** POST /register (201) and POST /rotate (200). */
export const AccountSchema = v.strictObject({ username: UsernameSchema, mechanism: MechanismSchema });
export type Account = v.InferOutput<typeof AccountSchema>;

export const ChallengeIdSchema = lowerHex(32, "A challenge id");
export const NonceSchema = lowerHex(64, "A nonce");
/** RFC 5802's client nonce: here 32 to 128 lowercase hex characters (16 to 64 random bytes). */
export const ClientNonceSchema = v.pipe(v.string(), v.regex(/^[0-9a-f]{32,128}$/, "clientNonce is 32 to 128 lowercase hex characters."));

/** A puzzle solution (puzzle.ts): the seed the server gave and an 8-byte nonce, both hex. */
export const PuzzleSolutionSchema = v.strictObject({
  seed: lowerHex(64, "pow.seed"),
  nonce: lowerHex(16, "pow.nonce"),
});
export type PuzzleSolution = v.InferOutput<typeof PuzzleSolutionSchema>;

/** POST /challenge: a SCRAM user's challenge needs the client nonce (RFC 5802 client-first message). */
export const ChallengeRequestSchema = v.strictObject({ username: UsernameSchema, clientNonce: v.optional(ClientNonceSchema), pow: v.optional(PuzzleSolutionSchema) });
export type ChallengeRequest = v.InferOutput<typeof ChallengeRequestSchema>;

export const SeedChallengeSchema = v.strictObject({
  challengeId: ChallengeIdSchema,
  nonce: NonceSchema,
  mechanism: v.picklist(["sha256", "sha384", "sha512"]),
});
export const ScramChallengeSchema = v.strictObject({
  challengeId: ChallengeIdSchema,
  /** The client nonce followed by the server's 64 hex characters. */
  nonce: v.pipe(v.string(), v.regex(/^[0-9a-f]{96,192}$/, "A SCRAM nonce is the client nonce followed by 64 hex characters.")),
  mechanism: v.literal(SCRAM_SHA_256),
  salt: base64Bytes(SCRAM_MIN_SALT_BYTES, SCRAM_MAX_SALT_BYTES, "A salt"),
  // Any positive count parses, so a client can name a weak one in its refusal (client.ts).
  iterations: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(SCRAM_MAX_ITERATIONS)),
});
export const ChallengeSchema = v.variant("mechanism", [SeedChallengeSchema, ScramChallengeSchema]);
export type Challenge = v.InferOutput<typeof ChallengeSchema>;

export const LoginRequestSchema = v.strictObject({
  username: UsernameSchema,
  challengeId: ChallengeIdSchema,
  // hex for the seed mechanisms, base64 ClientProof for SCRAM; its content is judged by the login, not here.
  response: v.pipe(v.string(), v.minLength(1, "response must not be empty."), v.maxLength(256, "response is at most 256 characters.")),
});
export type LoginRequest = v.InferOutput<typeof LoginRequestSchema>;

export const LoginResponseSchema = v.strictObject({
  token: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/)),
  /** Milliseconds since the epoch. */
  expiresAt: v.pipe(v.number(), v.integer()),
  /** SCRAM only: base64 ServerSignature. */
  serverSignature: v.optional(v.string()),
});
export type LoginResponse = v.InferOutput<typeof LoginResponseSchema>;

export const MeResponseSchema = AccountSchema;

/** POST /rotate: a fresh proof of the current password (challengeId, response) and the new verifier, clear or sealed. */
export const RotateProofSchema = v.strictObject({ challengeId: ChallengeIdSchema, response: LoginRequestSchema.entries.response });
export const RotateResponseSchema = v.strictObject({ username: UsernameSchema, mechanism: MechanismSchema, serverSignature: v.optional(v.string()) });
export type RotateResponse = v.InferOutput<typeof RotateResponseSchema>;

/** POST /logout. */
export const LogoutResponseSchema = v.strictObject({ revoked: v.literal(true) });

/** 429 from /challenge or /register when a puzzle must be solved first (puzzle.ts). */
export const PuzzleRequiredSchema = v.object({
  error: v.literal("pow_required"),
  message: v.string(),
  pow: v.strictObject({ seed: lowerHex(64, "pow.seed"), bits: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(256)) }),
});
export type PuzzleRequired = v.InferOutput<typeof PuzzleRequiredSchema>;

export const KeyResponseSchema = v.strictObject({
  kem: v.literal("X25519"),
  kdf: v.literal("HKDF-SHA256"),
  aead: v.literal("AES-128-GCM"),
  keyId: KeyIdSchema,
  /** The Oblivious HTTP key identifier (first byte of SHA-256(publicKey)). */
  ohttpKeyId: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(255)),
  publicKey: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/)),
});
export type KeyResponse = v.InferOutput<typeof KeyResponseSchema>;

export const AuthErrorBodySchema = v.strictObject({ error: v.string(), message: v.string() });
export type AuthErrorBody = v.InferOutput<typeof AuthErrorBodySchema>;
