// Test helpers: add relays through the admin route and talk to them as a client would.

import { exports } from "cloudflare:workers";
import { type CellTransport, type Descriptor, fetchTransport } from "@shallot/protocol";

export const ADMIN = { authorization: "Bearer test-admin-token" };

export const worker = () => (exports as unknown as { default: Fetcher }).default;

export async function addRelay(): Promise<Descriptor> {
  const response = await worker().fetch("http://relay.test/relays", { method: "POST", headers: ADMIN });
  if (response.status !== 201) throw new Error(`POST /relays answered ${response.status}`);
  return response.json();
}

export const addRelays = (count: number) => Promise.all(Array.from({ length: count }, addRelay));

/** A client's link to the entry: the link contract over this worker's own fetch, as a client sends it. */
export const clientTransport: CellTransport = fetchTransport({ fetch: (url, init) => worker().fetch(url, init) });

export function relayStub(id: string) {
  return env().RELAY.get(env().RELAY.idFromName(id));
}

import { env as workerEnv } from "cloudflare:workers";
const env = () => workerEnv as unknown as Cloudflare.Env;
