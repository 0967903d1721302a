// What a rotation's proof of the current password is bound to: the new verifier. A proof made for
// a login (one an exit on a plain HTTP path saw go by) cannot rotate the account to a verifier of
// the thief's choosing, and a rotation's proof replayed can only set the verifier its owner chose.

import { toHex, utf8 } from "../bytes.ts";
import type { Registration } from "./schemas.ts";

/**
 * "rotate:" + hex(SHA-256(the new verifier's canonical text)): the fields of the clear registration
 * as it travels, one per line (username, mechanism, then hash; or salt, iterations, storedKey,
 * serverKey), joined by "\n" with no final newline. The proof carries it as ",o=" + this
 * (scram.ts's AuthMessage, mechanisms.ts's seed response).
 */
export async function rotationOperation(registration: Registration): Promise<string> {
  const fields =
    registration.mechanism === "scram-sha-256"
      ? [registration.username, registration.mechanism, registration.salt, String(registration.iterations), registration.storedKey, registration.serverKey]
      : [registration.username, registration.mechanism, registration.hash];
  return `rotate:${toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(fields.join("\n")))))}`;
}
