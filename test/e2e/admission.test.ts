// Relay admission by the real authorities: a relay whose address does not serve its key is never
// listed, and a flood of self-signed descriptors with made-up addresses lists none of them and does
// not keep an honest relay out.

import { createServer, type Socket } from "node:net";
import { type SignedDescriptor, generateEd25519, generateX25519, relayIdFor, signDescriptor, toBase64Url } from "@shallot/protocol";
import { TestRelayHost, type TestRelayBehaviour } from "@shallot/protocol/testing";
import { type LoopbackServer, serveOnLoopback } from "@shallot/protocol/testing/node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { consensusDocument, consensusWhere } from "./network.ts";
import { freePort } from "./origin.ts";

const mesh = inject("mesh");
const ADMIN = { authorization: `Bearer ${mesh.adminToken}` };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Posts a descriptor to every authority, as a relay does; the answers (all 200: they take it, then test it). */
const publish = (signed: SignedDescriptor) =>
  Promise.all(mesh.urls.directories.map(async (url) => (await fetch(`${url}/descriptors`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(signed) })).status));

/** A self-signed descriptor for an address of the test's choosing. */
async function madeUp(base: string): Promise<SignedDescriptor> {
  const identity = await generateEd25519();
  const id = await relayIdFor(identity.publicKey);
  const onion = await generateX25519();
  return signDescriptor({ id, address: `${base}/relays/${id}`, onionKey: toBase64Url(onion.publicKey), identityKey: toBase64Url(identity.publicKey), exitPolicy: "all", published: Date.now() }, identity.privateKey);
}

let host: TestRelayHost;
let server: LoopbackServer;
beforeAll(async () => {
  let relayHost!: TestRelayHost;
  server = await serveOnLoopback((request) => relayHost.handle(request));
  relayHost = new TestRelayHost(server.url);
  host = relayHost;
});
afterAll(async () => {
  host?.release();
  await server?.close();
});

describe("admission by reachability test", () => {
  it("never lists a relay whose address does not serve its key", async () => {
    const behaviours: TestRelayBehaviour[] = ["honest", "wrong-key", "forged-reply", "other-descriptor", "no-descriptor"];
    const relays = await Promise.all(behaviours.map((behaviour) => host.add(behaviour, "none")));
    const [honest, ...liars] = relays;
    // (The honest one only gives other-descriptor someone to impersonate; it is never published.)
    // A descriptor naming an address on the real relay deployment, where no relay of that id lives.
    const squatter = await madeUp(mesh.urls.relay);
    expect(await publish(squatter)).toEqual([200, 200, 200]);
    const ids = new Set([...liars.map((r) => r.id), squatter.descriptor.id]);
    expect(ids.has(honest!.id)).toBe(false);

    const until = Date.now() + 25_000;
    const seen = new Set<string>();
    while (Date.now() < until) {
      // They ping like live relays, so nothing but the tests keeps them out.
      for (const relay of liars) expect(await publish(await relay.signed())).toEqual([200, 200, 200]);
      (await consensusDocument(mesh)).relays.forEach((r) => seen.add(r.id));
      await sleep(2_000);
    }
    expect([...seen].filter((id) => ids.has(id))).toEqual([]);
    // Each authority tested them and says why it does not vote for them.
    for (const url of mesh.urls.directories) {
      const page = await (await fetch(`${url}/`)).text();
      const row = (id: string) => page.split("\n").find((line) => line.includes(id.slice(0, 12))) ?? "";
      expect(row(liars[0]!.id)).toMatch(/not listed.*failed: CREATE2 with the published onion key failed/);
      expect(row(liars[1]!.id)).toMatch(/not listed.*failed: CREATE2 with the published onion key failed/);
      expect(row(liars[2]!.id)).toMatch(/not listed.*failed: The address serves another relay/);
      expect(row(liars[3]!.id)).toMatch(/not listed.*failed: GET of the address failed/);
    }
  }, 60_000);
});

describe("a Sybil flood", () => {
  it("of 50 self-signed descriptors with made-up addresses lists none of them and keeps no honest relay out", async () => {
    // Half at a tarpit (it accepts connections and never answers), half where nothing listens.
    const held = new Set<Socket>();
    const tarpit = createServer((socket) => {
      held.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => held.delete(socket));
    });
    await new Promise<void>((r) => tarpit.listen(0, "127.0.0.1", r));
    const tarpitUrl = `http://127.0.0.1:${(tarpit.address() as { port: number }).port}`;
    const closed = `http://127.0.0.1:${await freePort()}`;
    try {
      const before = (await consensusDocument(mesh)).relays.map((r) => r.id);
      const flood = await Promise.all(Array.from({ length: 50 }, (_, i) => madeUp(i % 2 ? tarpitUrl : `${closed}/s${i}`)));
      for (const signed of flood) expect(await publish(signed)).toEqual([200, 200, 200]);
      const floodIds = new Set(flood.map((signed) => signed.descriptor.id));

      // An honest relay joining right after the flood is listed, as any relay is, within a few rounds.
      const response = await fetch(`${mesh.urls.relay}/relays`, { method: "POST", headers: ADMIN });
      expect(response.status).toBe(201);
      const honest = ((await response.json()) as { id: string }).id;
      await consensusWhere(mesh, (d) => d.relays.some((r) => r.id === honest), 30_000);
      // The tarpit still holds the flood's tests: the honest relay did not wait behind them.
      expect(held.size).toBeGreaterThan(0);

      // Rounds later: nothing of the flood, everything that was listed before still is.
      const until = Date.now() + 15_000;
      while (Date.now() < until) {
        const listed = (await consensusDocument(mesh)).relays.map((r) => r.id);
        expect(listed.filter((id) => floodIds.has(id))).toEqual([]);
        expect(listed).toEqual(expect.arrayContaining([...before, honest]));
        await sleep(1_000);
      }
      expect((await fetch(`${mesh.urls.relay}/relays/${honest}`, { method: "DELETE", headers: ADMIN })).status).toBe(200);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise<void>((r) => tarpit.close(() => r()));
    }
  }, 90_000);
});
