import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { CellCommand, Circuit, fromUtf8, utf8 } from "@shallot/protocol";
import { describe, expect, it, vi } from "vitest";
import type { Relay } from "../src/relay.ts";
import { addRelays, clientTransport, relayStub } from "./helpers.ts";

const origin = () => (env as unknown as Cloudflare.Env).ORIGIN_URL;
const counts = (ids: string[]) => Promise.all(ids.map((id) => relayStub(id).tableCounts()));

async function circuitThrough(count = 3) {
  const relays = await addRelays(count);
  const circuit = await Circuit.build(relays, clientTransport, { clock: Date.now });
  return { relays, circuit, ids: relays.map((r) => r.id) };
}

describe("circuits across Relay Durable Objects", () => {
  it("carries a GET and a POST through three relays to a loopback origin and back", async () => {
    const { circuit } = await circuitThrough();
    const get = await circuit.request({ method: "GET", url: `${origin()}/hello?x=1`, headers: [["accept", "application/json"]], body: new Uint8Array(0) });
    expect(get.ok).toBe(true);
    if (!get.ok) return;
    expect(get.response.status).toBe(200);
    expect(get.response.headers).toContainEqual(["x-origin", "yes"]);
    const echoed = JSON.parse(fromUtf8(get.response.body));
    expect(echoed).toMatchObject({ method: "GET", url: "/hello?x=1" });

    const body = new Uint8Array(70_000).map((_, i) => (i * 7919) % 251);
    const post = await circuit.request({ method: "POST", url: `${origin()}/upload`, headers: [["content-type", "application/octet-stream"]], body });
    expect(post.ok).toBe(true);
    if (!post.ok) return;
    const received = JSON.parse(fromUtf8(post.response.body));
    expect(received.bodyLength).toBe(body.length);
    expect(received.body).toBe(btoa(String.fromCharCode(...body)));
  });

  it("keeps key and transfer rows in SQL: every hop has them, and only the exit lacks a transfer row", async () => {
    const { ids } = await circuitThrough();
    expect(await counts(ids)).toEqual([
      { keys: 1, transfers: 1 },
      { keys: 1, transfers: 1 },
      { keys: 1, transfers: 0 },
    ]);
  });

  it("tears down, rather than risk a replay, a circuit whose exit was evicted (its replay window was in memory), and builds anew", async () => {
    const { circuit, ids, relays } = await circuitThrough();
    expect((await circuit.request({ method: "GET", url: `${origin()}/before`, headers: [], body: new Uint8Array(0) })).ok).toBe(true);
    for (const id of ids) await evictDurableObject(relayStub(id));
    await expect(circuit.request({ method: "GET", url: `${origin()}/after-restart`, headers: [], body: new Uint8Array(0) })).rejects.toMatchObject({ code: "circuit_destroyed" });
    expect(await counts(ids)).toEqual([
      { keys: 0, transfers: 0 },
      { keys: 0, transfers: 0 },
      { keys: 0, transfers: 0 },
    ]);
    // The relays themselves came back with their keys: a new circuit through them works.
    const again = await Circuit.build(relays, clientTransport, { clock: Date.now });
    const result = await again.request({ method: "GET", url: `${origin()}/after-restart`, headers: [], body: new Uint8Array(0) });
    expect(result.ok && JSON.parse(fromUtf8(result.response.body)).url).toBe("/after-restart");
  });

  it("erases the circuit's rows on every hop when it is destroyed", async () => {
    const { circuit, ids } = await circuitThrough();
    await circuit.destroy();
    expect(await counts(ids)).toEqual([
      { keys: 0, transfers: 0 },
      { keys: 0, transfers: 0 },
      { keys: 0, transfers: 0 },
    ]);
  });

  it("expires an idle circuit by the entry's alarm, on every hop", async () => {
    const { ids } = await circuitThrough();
    const entry = relayStub(ids[0]!);
    await runInDurableObject(entry, (_: Relay, state: DurableObjectState) => {
      state.storage.sql.exec("UPDATE key_table SET last_used = 0");
    });
    expect(await runDurableObjectAlarm(entry)).toBe(true);
    // The entry erases its rows at once; later hops hear DESTROY from its background queue.
    expect(await counts([ids[0]!])).toEqual([{ keys: 0, transfers: 0 }]);
    await vi.waitFor(async () => expect(await counts(ids)).toEqual([
      { keys: 0, transfers: 0 },
      { keys: 0, transfers: 0 },
      { keys: 0, transfers: 0 },
    ]));
  });

  it("tears the circuit down on every hop when a cell was tampered with, and other circuits go on", async () => {
    const bystander = await circuitThrough();
    const { circuit, ids } = await circuitThrough();
    const tampering = {
      send: (address: string, cell: Uint8Array) => {
        const copy = cell.slice();
        if (copy[1] === CellCommand.RELAY) copy[copy.length - 7]! ^= 0x40;
        return clientTransport.send(address, copy);
      },
    };
    (circuit as unknown as { transport: typeof tampering }).transport = tampering;
    await expect(circuit.request({ method: "GET", url: `${origin()}/x`, headers: [], body: new Uint8Array(0) })).rejects.toMatchObject({ code: "circuit_destroyed" });
    expect((await counts(ids)).every((c) => c.keys === 0 && c.transfers === 0)).toBe(true);
    const still = await bystander.circuit.request({ method: "GET", url: `${origin()}/still`, headers: [], body: new Uint8Array(0) });
    expect(still.ok).toBe(true);
  });

  it("leaves no rows behind when a build fails at the third hop", async () => {
    const [entry, middle] = await addRelays(2);
    const ghost = { ...middle!, id: "f".repeat(64), address: `http://relay.test/relays/${"f".repeat(64)}` };
    await expect(Circuit.build([entry!, middle!, ghost], clientTransport, { clock: Date.now })).rejects.toMatchObject({ code: "extend_failed" });
    expect(await counts([entry!.id, middle!.id])).toEqual([
      { keys: 0, transfers: 0 },
      { keys: 0, transfers: 0 },
    ]);
  });

  it("reports the exit's failure through the circuit when the origin cannot be reached", async () => {
    const { circuit } = await circuitThrough();
    const result = await circuit.request({ method: "GET", url: "http://127.0.0.1:9/closed", headers: [], body: utf8("") });
    expect(result).toMatchObject({ ok: false, error: { error: "exit_fetch_failed", status: 502 } });
  });
});
