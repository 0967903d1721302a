// Relays against hostile neighbours: a next hop that never answers (a tarpit), floods of CREATE2,
// cells that would hold a relay's memory, and replayed cells. Real Durable Objects, storage and
// alarms; the tarpit and the directory are real HTTP servers on loopback (test/origin-server.ts).

import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { CellCommand, Circuit, type Descriptor, decodeCell, encodeCell, fromBase64Url, fromHex, ntorClientStart, randomBytes, toHex } from "@shallot/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { Relay } from "../src/relay.ts";
import { addRelay, addRelays, clientTransport, relayStub, worker } from "./helpers.ts";

const testEnv = () => env as unknown as Cloudflare.Env;
const origin = () => testEnv().ORIGIN_URL;
const tarpit = (): Descriptor => JSON.parse(testEnv().TARPIT);
const counts = (ids: string[]) => Promise.all(ids.map((id) => relayStub(id).tableCounts()));
const get = (path: string) => ({ method: "GET" as const, url: `${origin()}${path}`, headers: [] as [string, string][], body: new Uint8Array(0) });

interface OriginState {
  pings: string[];
  stalledPings: number;
  origin: Record<string, number>;
  tarpit: { creates: number; held: number };
}
const state = async (): Promise<OriginState> => (await fetch(`${origin()}/control/state`)).json();
const directory = (mode: "down" | "up" | "stall") => fetch(`${origin()}/control/directory/${mode}`, { method: "POST" });
afterEach(async () => {
  await directory("down");
});

/** A CREATE2 cell for `relay`, as a neighbour would send it. */
async function create2(relay: Descriptor): Promise<Uint8Array<ArrayBuffer>> {
  const { onionskin } = await ntorClientStart(fromHex(relay.id), fromBase64Url(relay.onionKey));
  return encodeCell({ command: CellCommand.CREATE2, linkId: randomBytes(16), onionskin });
}
const postCell = (relay: Descriptor, cell: Uint8Array, neighbour?: string) =>
  worker().fetch(`${relay.address}/cell`, { method: "POST", body: cell, headers: neighbour ? { "onion-neighbour": neighbour } : {} });
const someRelayId = () => toHex(randomBytes(32));

describe("a next hop that answers CREATE2 and then never again (a tarpit)", () => {
  it("ends only the circuit waiting on it, within the link deadline; other circuits through the same relays go on", async () => {
    const [entry, middle, exit] = await addRelays(3);
    const trapped = await Circuit.build([entry!, middle!, tarpit()], clientTransport, { clock: Date.now });
    const bystander = await Circuit.build([entry!, middle!, exit!], clientTransport, { clock: Date.now });
    const stuck = trapped.request(get("/never"));
    // While the trapped cell waits at the middle, the same relays carry another circuit.
    const meanwhile = await bystander.request(get("/meanwhile"));
    expect(meanwhile.ok).toBe(true);
    await expect(stuck).rejects.toMatchObject({ code: "circuit_destroyed" });
    expect(await counts([entry!.id, middle!.id])).toEqual([
      { keys: 1, transfers: 1 },
      { keys: 1, transfers: 1 },
    ]);
    expect((await bystander.request(get("/after"))).ok).toBe(true);
  }, 15_000);

  it("cannot hang the heartbeat: the alarm erases idle circuits, re-arms and pings however long the tarpit holds their DESTROYs", async () => {
    const entry = await addRelay();
    for (let i = 0; i < 3; i++) await Circuit.build([entry, tarpit()], clientTransport, { clock: Date.now });
    await runInDurableObject(relayStub(entry.id), (_: Relay, state: DurableObjectState) => {
      state.storage.sql.exec("UPDATE key_table SET last_used = 0");
    });
    const pingsBefore = (await state()).pings.filter((id) => id === entry.id).length;
    // Were the alarm to await the tarpit, it would never return and this test would time out.
    expect(await runDurableObjectAlarm(relayStub(entry.id))).toBe(true);
    expect(await counts([entry.id])).toEqual([{ keys: 0, transfers: 0 }]);
    expect((await state()).pings.filter((id) => id === entry.id).length).toBe(pingsBefore + 1);
    const next = await runInDurableObject(relayStub(entry.id), (_: Relay, state: DurableObjectState) => state.storage.getAlarm());
    expect(next).toBeGreaterThan(Date.now());
  });

  it("sets the next alarm before it contacts anyone: a stalled directory cannot stop the heartbeat", async () => {
    const relay = await addRelay();
    await directory("stall");
    const stalledBefore = (await state()).stalledPings;
    const alarm = runDurableObjectAlarm(relayStub(relay.id));
    await expect.poll(async () => (await state()).stalledPings, { timeout: 5_000 }).toBeGreaterThan(stalledBefore);
    // The ping is now held by the directory, and the next heartbeat is already scheduled.
    const next = await runInDurableObject(relayStub(relay.id), (_: Relay, state: DurableObjectState) => state.storage.getAlarm());
    expect(next).not.toBeNull();
    expect(await alarm).toBe(true);
  });

  it("re-arms a relay whose alarm is missing when its object starts again", async () => {
    const relay = await addRelay();
    await runInDurableObject(relayStub(relay.id), (_: Relay, state: DurableObjectState) => state.storage.deleteAlarm());
    await evictDurableObject(relayStub(relay.id));
    await relayStub(relay.id).tableCounts();
    // (While a re-armed alarm runs, getAlarm() reads null until it sets the next one: poll.)
    await expect
      .poll(() => runInDurableObject(relayStub(relay.id), (_: Relay, state: DurableObjectState) => state.storage.getAlarm()), { timeout: 3_000 })
      .not.toBeNull();
  });

  it("cannot keep a retiring relay from leaving", async () => {
    const entry = await addRelay();
    for (let i = 0; i < 3; i++) await Circuit.build([entry, tarpit()], clientTransport, { clock: Date.now });
    const retired = await worker().fetch(`http://relay.test/relays/${entry.id}`, { method: "DELETE", headers: { authorization: "Bearer test-admin-token" } });
    expect(retired.status).toBe(200);
    expect(await counts([entry.id])).toEqual([{ keys: 0, transfers: 0 }]);
  });
});

describe("bounded work per relay", () => {
  it("limits CREATE2 per neighbour: past the burst, 429 with Retry-After, and other neighbours go on", async () => {
    const relay = await addRelay();
    const flooder = someRelayId();
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await postCell(relay, await create2(relay), flooder)).status);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(20);
    const refused = await postCell(relay, await create2(relay), flooder);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toMatchObject({ error: "rate_limited", message: expect.any(String) });
    expect((await postCell(relay, await create2(relay), someRelayId())).status).toBe(200);
  });

  it("limits CREATE2 for the whole relay, whatever neighbour each claims to be", async () => {
    const relay = await addRelay();
    const responses: Response[] = [];
    for (let i = 0; i < 70; i++) responses.push(await postCell(relay, await create2(relay), someRelayId()));
    const busy = responses.filter((r) => r.status === 503);
    expect(busy.length).toBeGreaterThan(0);
    expect(await busy[0]!.json()).toMatchObject({ error: "relay_busy" });
    expect(Number(busy[0]!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  it("holds at most MAX_CIRCUITS circuits: then 503 relay_full, and its table does not grow", async () => {
    const relay = await addRelay();
    await runInDurableObject(relayStub(relay.id), (_: Relay, state: DurableObjectState) => {
      for (let i = 0; i < 120; i++) state.storage.sql.exec("INSERT INTO key_table (link_id, neighbour, key_material, created_at, last_used) VALUES (?, 'client', ?, 0, ?)", toHex(randomBytes(16)), new Uint8Array(160), Date.now());
    });
    await evictDurableObject(relayStub(relay.id));
    const refused = await postCell(relay, await create2(relay));
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: "relay_full" });
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await counts([relay.id]))[0]!.keys).toBe(120);
  });

  it("works on at most MAX_INFLIGHT_CELLS cells at once: the next gets 503 relay_busy with Retry-After", async () => {
    const limit = Number(testEnv().MAX_INFLIGHT_CELLS);
    const entry = await addRelay();
    const circuits = [];
    for (let i = 0; i <= limit; i++) circuits.push(await Circuit.build([entry, tarpit()], clientTransport, { clock: Date.now }));
    const heldBefore = (await state()).tarpit.held;
    const held = circuits.slice(0, limit).map((circuit) => circuit.request(get("/held")).catch((error: unknown) => error));
    await expect.poll(async () => (await state()).tarpit.held, { timeout: 5_000 }).toBeGreaterThanOrEqual(heldBefore + limit);
    await expect(circuits[limit]!.request(get("/one-too-many"))).rejects.toMatchObject({ code: "relay_busy", status: 503 });
    await Promise.all(held);
    // The held cells ended at their deadline: the relay takes cells again.
    expect((await postCell(entry, await create2(entry))).status).toBe(200);
  }, 15_000);

  it("refuses a cell that would take the isolate past its byte budget, and recovers once it passes", async () => {
    const [entry, middle, exit] = await addRelays(3);
    const circuit = await Circuit.build([entry!, middle!, exit!], clientTransport, { clock: Date.now });
    const big = { ...get("/big"), method: "POST" as const, body: new Uint8Array(7 * 1024 * 1024) };
    await expect(circuit.request(big)).rejects.toMatchObject({ code: "relay_busy", status: 503 });
    const after = await Circuit.build([entry!, middle!, exit!], clientTransport, { clock: Date.now });
    expect((await after.request(get("/small"))).ok).toBe(true);
  });
});

/** A POST whose body sends `sent` bytes and then stalls, declaring `declared` bytes (or chunked). */
function stalledPost(url: string, sent: number, declared?: number): Promise<Response> {
  const body = new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(new Uint8Array(sent)) });
  const headers: Record<string, string> = declared === undefined ? {} : { "content-length": String(declared) };
  return worker().fetch(url, { method: "POST", body, headers, duplex: "half" } as RequestInit);
}

describe("stalled uploads", () => {
  const timeoutMs = () => Number(testEnv().BODY_TIMEOUT_MS);

  it("a stalled cell upload is charged for the bytes that came, not its declared length, and ends at the deadline with 408", async () => {
    const relay = await addRelay();
    // Four senders declare 8 MiB each (32 MiB against a 12 MiB budget) and send 1 KiB.
    const stalled = Array.from({ length: 4 }, () => stalledPost(`${relay.address}/cell`, 1024, 8 * 1024 * 1024));
    // Meanwhile the relay's worker takes an honest cell: the budget was not spent on promises.
    expect((await postCell(relay, await create2(relay))).status).toBe(200);
    const started = Date.now();
    for (const answer of stalled) {
      const response = await answer;
      expect(response.status).toBe(408);
      expect(await response.json()).toMatchObject({ error: "body_timeout", message: expect.any(String) });
    }
    expect(Date.now() - started).toBeLessThan(timeoutMs() + 3_000);
    expect((await postCell(relay, await create2(relay))).status).toBe(200);
  }, 15_000);

  it("stalled /fetch uploads, chunked or declared, hold only what they sent: another body still gets through the gateway", async () => {
    const url = "http://relay.test/fetch?url=http://example.com/upload";
    // Before, a chunked body was charged at the full 8 MiB limit twice over, a declared one at its length twice over.
    const stalled = [stalledPost(url, 1024), stalledPost(url, 1024, 8 * 1024 * 1024), stalledPost(url, 1024, 8 * 1024 * 1024)];
    const honest = await worker().fetch(url, { method: "POST", body: new Uint8Array(1024 * 1024) });
    // Past the body and the budget, it fails only for want of a consensus (no authority serves one here).
    expect(honest.status).toBe(503);
    expect(await honest.json()).toMatchObject({ error: "directory_unreachable" });
    for (const answer of stalled) {
      const response = await answer;
      expect(response.status).toBe(408);
      expect(await response.json()).toMatchObject({ error: "body_timeout" });
    }
  }, 15_000);

  it("bodies hold at most half the budget: an upload stalled near its end blocks other uploads, never the circuits", async () => {
    const url = "http://relay.test/fetch?url=http://example.com/upload";
    const [entry, middle, exit] = await addRelays(3);
    const circuit = await Circuit.build([entry!, middle!, exit!], clientTransport, { clock: Date.now });
    // 2.5 MiB sent, charged twice (the body and its cell): 5 of the 6 MiB that bodies may hold (12 MiB budget).
    const stalled = stalledPost(url, 2.5 * 1024 * 1024);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const refused = await worker().fetch(url, { method: "POST", body: new Uint8Array(1024 * 1024) });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: "gateway_busy" });
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // The other half is the circuits': a request through three hops goes on meanwhile.
    expect((await circuit.request(get("/meanwhile"))).ok).toBe(true);
    expect((await stalled).status).toBe(408);
    // Once the stalled upload is cut off, its bytes are free again.
    const after = await worker().fetch(url, { method: "POST", body: new Uint8Array(2.5 * 1024 * 1024) });
    expect(await after.json()).toMatchObject({ error: "directory_unreachable" });
  }, 15_000);
});

describe("replay protection in the relay's SQL tables", () => {
  it("tears the circuit down on every hop when a cell is replayed, and the exit acts on it once", async () => {
    const relays = await addRelays(3);
    const sent: Uint8Array[] = [];
    const recording = {
      send: (address: string, cell: Uint8Array<ArrayBuffer>) => {
        sent.push(cell.slice());
        return clientTransport.send(address, cell);
      },
    };
    const circuit = await Circuit.build(relays, recording, { clock: Date.now });
    const path = `/replayed-${toHex(randomBytes(4))}`;
    expect((await circuit.request(get(path))).ok).toBe(true);
    const request = sent.at(-1)!;
    const answer = await postCell(relays[0]!, request);
    expect(answer.status).toBe(200);
    expect(decodeCell(new Uint8Array(await answer.arrayBuffer()))).toMatchObject({ command: CellCommand.DESTROY });
    expect((await state()).origin[path]).toBe(1);
    expect(await counts(relays.map((r) => r.id))).toEqual([
      { keys: 0, transfers: 0 },
      { keys: 0, transfers: 0 },
      { keys: 0, transfers: 0 },
    ]);
  });
});
