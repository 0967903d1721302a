// Relays on the real relay hosts of test/relay-hosts.ts, relays with made-up addresses, and
// shortcuts for talking to the authority and waiting for its rounds.

import { env, exports } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import {
  type ConsensusDocument,
  type Descriptor,
  type Retirement,
  type SignedConsensus,
  type SignedDescriptor,
  ed25519Sign,
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
export const pinned = () => [env.DIRECTORY_PUBLIC_KEY_FOR_TESTS];
export const relayHosts = (): string[] => JSON.parse(env.RELAY_HOSTS);
export const PERIOD_MS = Number(env.CONSENSUS_PERIOD_MS);

export const call = (path: string, init?: RequestInit) => exports.default.fetch(new Request(`https://directory.test${path}`, init));

export const sendJson = (method: string, path: string, body: unknown) =>
  call(path, { method, headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });

export interface Relay {
  id: string;
  address: string;
  signed(published?: number, address?: string): Promise<SignedDescriptor>;
  register(published?: number): Promise<Response>;
  retirement(at?: number): Promise<Retirement>;
}

let nextHost = 0;
/** The relay hosts in turn, so that relays of one test file spread over them (K per host applies). */
export const anyHost = () => relayHosts()[nextHost++ % relayHosts().length]!;

/** A relay on one of the real relay hosts, behaving as told (`honest` serves its key). */
export async function hostedRelay(host = anyHost(), behaviour = "honest", exitPolicy = "all"): Promise<Relay & { stats(): Promise<{ creates: number; circuits: number; held: number; log: string[] }>; remove(): Promise<void>; restore(): Promise<void> }> {
  const made = (await (await fetch(`${host}/admin/relays?behaviour=${behaviour}&exitPolicy=${exitPolicy}`, { method: "POST" })).json()) as { id: string; address: string };
  const signed = async (published = Date.now(), address?: string) =>
    (await (await fetch(`${host}/admin/signed/${made.id}?published=${published}${address ? `&address=${encodeURIComponent(address)}` : ""}`)).json()) as SignedDescriptor;
  return {
    ...made,
    signed,
    register: async (published?: number) => sendJson("POST", "/descriptors", await signed(published)),
    retirement: async (at = Date.now()) => (await (await fetch(`${host}/admin/retirement/${made.id}?at=${at}`)).json()) as Retirement,
    stats: async () => (await fetch(`${host}/admin/stats/${made.id}`)).json(),
    remove: async () => void (await fetch(`${host}/admin/remove/${made.id}`, { method: "POST" })),
    restore: async () => void (await fetch(`${host}/admin/restore/${made.id}`, { method: "POST" })),
  };
}

/** A relay whose keys the test holds and whose address is whatever it says (nothing serves it unless told). */
export async function madeUpRelay(base = `https://relay-${toHex(randomBytes(3))}.invalid`) {
  const identity = await generateEd25519();
  const onion = await generateX25519();
  const id = await relayIdFor(identity.publicKey);
  const address = `${base}/relays/${id}`;
  const descriptor = (changes: Partial<Descriptor> = {}): Descriptor => ({
    id,
    address,
    onionKey: toBase64Url(onion.publicKey),
    identityKey: toBase64Url(identity.publicKey),
    exitPolicy: "public",
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

/** The consensus served now, checked against the authority's key. */
export async function verifiedConsensus(): Promise<ConsensusDocument> {
  return verifyConsensus(await fetchConsensus(), pinned(), Date.now());
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (a few rounds at most) for a consensus that satisfies `test`, and returns it. */
export async function consensusWhere(test: (document: ConsensusDocument) => boolean, rounds = 6): Promise<ConsensusDocument> {
  const deadline = Date.now() + rounds * PERIOD_MS + 2_000;
  let last: ConsensusDocument | null = null;
  for (;;) {
    const response = await call("/consensus");
    if (response.status === 200) {
      last = await verifyConsensus(await response.json(), pinned(), Date.now());
      if (test(last)) return last;
    }
    if (Date.now() > deadline) throw new Error(`no consensus satisfied the test in ${rounds} rounds; the last listed ${last?.relays.map((r) => r.id.slice(0, 8)).join(",") ?? "nothing"}`);
    await sleep(100);
  }
}

/** The consensus of the next round that starts after now. */
export async function nextConsensus(): Promise<ConsensusDocument> {
  const after = Date.now();
  return consensusWhere((document) => document.published >= after);
}

export const listedIds = (document: ConsensusDocument) => document.relays.map((r) => r.id);

/** The relay ids the authority has stored, read from its SQLite table directly. */
export const storedIds = () =>
  runInDurableObject(directoryStub(), (_instance, state) => state.storage.sql.exec<{ id: string }>("SELECT id FROM descriptors ORDER BY id").toArray().map((r) => r.id));

/** One stored row, as the authority keeps it. */
export const storedRow = (id: string) =>
  runInDurableObject(directoryStub(), (_instance, state) => state.storage.sql.exec<Record<string, string | number | null>>("SELECT * FROM descriptors WHERE id = ?", id).toArray()[0] ?? null);

export async function expectError(response: Response, status: number, error: string) {
  expect(response.status).toBe(status);
  const text = await response.text();
  const body = JSON.parse(text) as { error: string; message: string };
  expect(body).toEqual({ error, message: expect.any(String) });
  expect(body.message.length).toBeGreaterThan(0);
  // No stack frame, source position or exception name may leak into the body.
  expect(text).not.toMatch(/\bat \S+ \(|\.ts:\d+:\d+|[A-Za-z]*Error:/);
}
