// The password mechanisms the auth server knows, and the seed challenge-response (seed report §6).

import { type Bytes, constantTimeEqual, toHex, utf8 } from "../bytes.ts";

/** Seed mechanisms: the server keeps hex(H(password)); swapping H is how a stolen hash is retired. */
export const SEED_MECHANISMS = ["sha256", "sha384", "sha512"] as const;
export type SeedMechanism = (typeof SEED_MECHANISMS)[number];
export const SCRAM_SHA_256 = "scram-sha-256";
export const MECHANISMS = [...SEED_MECHANISMS, SCRAM_SHA_256] as const;
export type Mechanism = (typeof MECHANISMS)[number];
export const DEFAULT_SEED_MECHANISM: SeedMechanism = "sha256";

export const SEED_HASHES = {
  sha256: { webCrypto: "SHA-256", hexLength: 64 },
  sha384: { webCrypto: "SHA-384", hexLength: 96 },
  sha512: { webCrypto: "SHA-512", hexLength: 128 },
} as const satisfies Record<SeedMechanism, { webCrypto: string; hexLength: number }>;

export const isSeedMechanism = (value: unknown): value is SeedMechanism => (SEED_MECHANISMS as readonly unknown[]).includes(value);
export const isMechanism = (value: unknown): value is Mechanism => (MECHANISMS as readonly unknown[]).includes(value);

/**
 * A password UTF-8 can carry as it is: no lone surrogate, which would be encoded as U+FFFD, so that
 * two different passwords ("\ud800x", "\udfffx") would be one.
 */
export const isWellFormedPassword = (password: string): boolean => !/\p{Cs}/u.test(password);

/** Lowercase hex of H(data); strings are hashed as their UTF-8 bytes. */
export async function digestHex(mechanism: SeedMechanism, data: Bytes | string): Promise<string> {
  const bytes = typeof data === "string" ? utf8(data) : data;
  return toHex(new Uint8Array(await crypto.subtle.digest(SEED_HASHES[mechanism].webCrypto, bytes)));
}

/** What a client registers: hex(H(password)), password as UTF-8 without normalisation (as `printf '%s' | sha256sum`). */
export const hashPassword = (mechanism: SeedMechanism, password: string): Promise<string> => digestHex(mechanism, password);

/**
 * The seed response: hex(H( hex(H(password)) ‖ nonce )), ‖ joining the two ASCII strings.
 * In a shell: printf '%s%s' "$HASH" "$NONCE" | sha256sum | cut -d' ' -f1
 * A proof for an operation other than a login (a rotation, rotation.ts) appends ",o=" and the
 * operation, so it cannot be taken for a login's, nor a login's for it.
 */
export const seedResponse = (mechanism: SeedMechanism, hashHex: string, nonce: string, operation?: string): Promise<string> =>
  digestHex(mechanism, hashHex + nonce + (operation === undefined ? "" : `,o=${operation}`));

/** Server side: recomputes the response from the stored hash and compares in constant time. */
export async function verifySeedResponse(mechanism: SeedMechanism, hashHex: string, nonce: string, response: string, operation?: string): Promise<boolean> {
  const expected = await seedResponse(mechanism, hashHex, nonce, operation);
  return constantTimeEqual(utf8(expected), utf8(response));
}
