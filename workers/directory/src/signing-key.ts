// The directory's Ed25519 key, imported once per isolate from the configured seed.

import { type KeyPair, fromBase64Url, importEd25519 } from "@shallot/protocol";

const imported = new Map<string, Promise<KeyPair>>();

export function signingKey(seed: string): Promise<KeyPair> {
  let key = imported.get(seed);
  if (!key) {
    key = importEd25519(fromBase64Url(seed));
    imported.set(seed, key);
  }
  return key;
}
