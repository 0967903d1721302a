// Relays made with the protocol's own helpers, and shortcuts for talking to the directory.

import { env, exports } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import {
  type Descriptor,
  type SignedConsensus,
  ed25519Sign,
  fromBase64Url,
  generateEd25519,
  generateX25519,
  randomBytes,
  relayIdFor,
  retirementSigningBytes,
  signDescriptor,
  toBase64Url,
  toHex,
  verifyConsensus,
} from "@shallot/protocol";
import { expect } from "vitest";

export const directoryStub = () => env.DIRECTORY.get(env.DIRECTORY.idFromName("directory"));
export const directoryPublicKey = () => fromBase64Url(env.DIRECTORY_PUBLIC_KEY_FOR_TESTS);

export const call = (path: string, init?: RequestInit) => exports.default.fetch(new Request(`https://directory.test${path}`, init));

export const sendJson = (method: string, path: string, body: unknown) =>
  call(path, { method, headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });

/** A relay of a deployment at `base`: its address is the canonical `<base>/relays/<id>`. */
export async function makeRelay(base = `https://relay-${toHex(randomBytes(3))}.test`) {
  const identity = await generateEd25519();
  const onion = await generateX25519();
  const id = await relayIdFor(identity.publicKey);
  const address = `${base}/relays/${id}`;
  const descriptor = (changes: Partial<Descriptor> = {}): Descriptor => ({
    id,
    address,
    onionKey: toBase64Url(onion.publicKey),
    identityKey: toBase64Url(identity.publicKey),
    published: Date.now(),
    ...changes,
  });
  return {
    id,
    address,
    identity,
    descriptor,
    signed: (changes: Partial<Descriptor> = {}) => signDescriptor(descriptor(changes), identity.privateKey),
    register: async (changes: Partial<Descriptor> = {}) => sendJson("POST", "/descriptors", await signDescriptor(descriptor(changes), identity.privateKey)),
    retirement: async (at = Date.now(), key = identity.privateKey) => ({ id, at, signature: toBase64Url(await ed25519Sign(key, retirementSigningBytes(id, at))) }),
  };
}

export async function fetchConsensus(): Promise<SignedConsensus> {
  const response = await call("/consensus");
  expect(response.status).toBe(200);
  return response.json();
}

/** Fetches the consensus and checks it against the directory's public key. */
export async function verifiedConsensus() {
  const signed = await fetchConsensus();
  return { signed, document: await verifyConsensus(signed, directoryPublicKey(), Date.now()) };
}

export const consensusIds = async () => (await verifiedConsensus()).document.relays.map((r) => r.id);

/** The relay ids the Directory has stored, read from its SQLite table directly. */
export const storedIds = () =>
  runInDurableObject(directoryStub(), (_instance, state) => state.storage.sql.exec<{ id: string }>("SELECT id FROM relays ORDER BY id").toArray().map((r) => r.id));

export async function expectError(response: Response, status: number, error: string) {
  expect(response.status).toBe(status);
  const text = await response.text();
  const body = JSON.parse(text) as { error: string; message: string };
  expect(body).toEqual({ error, message: expect.any(String) });
  expect(body.message.length).toBeGreaterThan(0);
  // No stack frame, source position or exception name may leak into the body.
  expect(text).not.toMatch(/\bat \S+ \(|\.ts:\d+:\d+|[A-Za-z]*Error:/);
}
