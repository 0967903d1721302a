import { describe, expect, it } from "vitest";
import { fromHex, toBase64Url, toHex, utf8 } from "./bytes.ts";
import { CellCommand, DestroyReason, decodeCell, encodeCell } from "./cell.ts";
import { type CellTransport, Circuit } from "./client.ts";
import type { Descriptor } from "./descriptor.ts";
import type { HttpRequestMessage } from "./http-message.ts";
import { MemoryRelayTables } from "./memory-tables.ts";
import { CLIENT_NEIGHBOUR, RelayEngine } from "./relay-engine.ts";
import { generateX25519 } from "./x25519.ts";

interface TestRelay {
  descriptor: Descriptor;
  engine: RelayEngine;
  tables: MemoryRelayTables;
  /** Every cell this relay sent onwards, as bytes on the wire. */
  forwarded: Uint8Array[];
  received: Uint8Array[];
  exitRequests: HttpRequestMessage[];
}

/** Three (or more) in-memory relays wired together: addressed by URL, routed in memory. */
async function mesh(count = 3, mayExtendTo?: (address: string) => boolean) {
  const relays = new Map<string, TestRelay>();
  const deliver = async (address: string, cell: Uint8Array, neighbour: string) => {
    const relay = relays.get(new URL(address).pathname.split("/").pop()!);
    if (!relay) throw new Error("no such relay");
    relay.received.push(cell);
    return relay.engine.handle(cell as Uint8Array<ArrayBuffer>, neighbour);
  };
  for (let i = 0; i < count; i++) {
    const id = toHex(crypto.getRandomValues(new Uint8Array(32)));
    const onionKey = await generateX25519();
    const tables = new MemoryRelayTables();
    const relay: TestRelay = {
      descriptor: { id, address: `http://relays.test/relays/${id}`, onionKey: toBase64Url(onionKey.publicKey), identityKey: toBase64Url(new Uint8Array(32)), published: 0 },
      tables,
      forwarded: [],
      received: [],
      exitRequests: [],
      engine: undefined as unknown as RelayEngine,
    };
    relay.engine = new RelayEngine({
      identity: { id, relayId: fromHex(id), onionKey },
      tables,
      clock: () => 1000,
      mayExtendTo,
      link: {
        send: async (address, cell) => {
          relay.forwarded.push(cell);
          return deliver(address, cell, id);
        },
      },
      exit: async (request) => {
        relay.exitRequests.push(request);
        return { ok: true, response: { status: 200, statusText: "OK", headers: [["content-type", "text/plain"]], body: utf8(`echo ${request.method} ${request.body.length}`) } };
      },
    });
    relays.set(id, relay);
  }
  const transport: CellTransport = { send: (address, cell) => deliver(address, cell, CLIENT_NEIGHBOUR) };
  return { relays: [...relays.values()], transport };
}

const contains = (haystack: Uint8Array, needle: Uint8Array) => {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
};

describe("RelayEngine with the client", () => {
  it("builds a 3-hop circuit and carries a request to the exit and its response back", async () => {
    const { relays, transport } = await mesh();
    const circuit = await Circuit.build(relays.map((r) => r.descriptor), transport, { clock: () => 0 });
    const result = await circuit.request({ method: "POST", url: "http://origin.test/echo", headers: [["x-a", "1"]], body: utf8("hello") });
    expect(result).toMatchObject({ ok: true, response: { status: 200 } });
    if (result.ok) expect(new TextDecoder().decode(result.response.body)).toBe("echo POST 5");
    expect(relays[2]!.exitRequests).toHaveLength(1);
    expect(relays[0]!.exitRequests).toHaveLength(0);
    expect(relays[1]!.exitRequests).toHaveLength(0);
    // Each relay knows its own key row; entry and middle have a transfer row; the exit has none.
    expect(relays.map((r) => r.tables.keys.size)).toEqual([1, 1, 1]);
    expect(relays.map((r) => r.tables.transfers.size)).toEqual([1, 1, 0]);
  });

  it("gives the three hops of one request messages of equal length", async () => {
    const { relays, transport } = await mesh();
    const circuit = await Circuit.build(relays.map((r) => r.descriptor), transport, { clock: () => 0 });
    for (const r of relays) r.received.length = 0;
    await circuit.request({ method: "GET", url: "http://origin.test/a-rather-long-path/" + "x".repeat(300), headers: [], body: new Uint8Array(0) });
    const lengths = relays.map((r) => decodeCell(r.received[0] as Uint8Array<ArrayBuffer>)).map((c) => (c.command === CellCommand.RELAY ? c.payload.length : -1));
    expect(lengths[0]).toBeGreaterThan(0);
    expect(new Set(lengths).size).toBe(1);
    expect(relays.map((r) => r.received[0]!.length)).toEqual([relays[0]!.received[0]!.length, relays[0]!.received[0]!.length, relays[0]!.received[0]!.length]);
  });

  it("never shows the entry the destination URL or the plaintext, in its tables or in what it forwards", async () => {
    const { relays, transport } = await mesh();
    const circuit = await Circuit.build(relays.map((r) => r.descriptor), transport, { clock: () => 0 });
    const url = "http://secret-destination.test/private/path";
    const body = utf8("the plaintext body that only the exit may read");
    await circuit.request({ method: "POST", url, headers: [], body });
    const entry = relays[0]!;
    const seen = [...entry.forwarded, ...entry.received, ...[...entry.tables.keys.values()].map((r) => r.keyMaterial), utf8(JSON.stringify([...entry.tables.transfers.values()]))];
    for (const bytes of seen) {
      expect(contains(bytes, utf8(url))).toBe(false);
      expect(contains(bytes, utf8("secret-destination"))).toBe(false);
      expect(contains(bytes, body)).toBe(false);
    }
    // ...while the exit did see them, so the search above would have found them.
    expect(relays[2]!.exitRequests[0]!.url).toBe(url);
  });

  it("erases key and transfer rows on every hop when the circuit is destroyed", async () => {
    const { relays, transport } = await mesh();
    const circuit = await Circuit.build(relays.map((r) => r.descriptor), transport, { clock: () => 0 });
    await circuit.destroy();
    expect(relays.map((r) => r.tables.keys.size + r.tables.transfers.size)).toEqual([0, 0, 0]);
    await expect(circuit.request({ method: "GET", url: "http://x.test/", headers: [], body: new Uint8Array(0) })).rejects.toMatchObject({ code: "circuit_destroyed" });
  });

  it("detects a cell tampered with by the entry and tears the circuit down on every hop", async () => {
    const { relays, transport } = await mesh();
    const circuit = await Circuit.build(relays.map((r) => r.descriptor), transport, { clock: () => 0 });
    // The entry flips one bit of everything it forwards.
    const entry = relays[0]!;
    const honest = (entry.engine as unknown as { options: { link: { send: (a: string, c: Uint8Array) => Promise<Uint8Array> } } }).options.link;
    const send = honest.send;
    honest.send = (address, cell) => {
      const copy = cell.slice();
      copy[copy.length - 1]! ^= 1;
      return send(address, copy);
    };
    await expect(circuit.request({ method: "GET", url: "http://x.test/", headers: [], body: new Uint8Array(0) })).rejects.toMatchObject({ code: "circuit_destroyed" });
    expect(relays[2]!.exitRequests).toHaveLength(0);
    expect(relays.map((r) => r.tables.keys.size + r.tables.transfers.size)).toEqual([0, 0, 0]);
  });

  it("refuses a replayed cell at the exit", async () => {
    const { relays, transport } = await mesh();
    const circuit = await Circuit.build(relays.map((r) => r.descriptor), transport, { clock: () => 0 });
    const captured: Uint8Array<ArrayBuffer>[] = [];
    const replaying: CellTransport = {
      send: async (address, cell) => {
        captured.push(cell as Uint8Array<ArrayBuffer>);
        return transport.send(address, cell);
      },
    };
    (circuit as unknown as { transport: CellTransport }).transport = replaying;
    await circuit.request({ method: "POST", url: "http://x.test/pay", headers: [], body: utf8("once") });
    expect(relays[2]!.exitRequests).toHaveLength(1);
    const answer = decodeCell((await transport.send(relays[0]!.descriptor.address, captured[0]!)) as Uint8Array<ArrayBuffer>);
    expect(answer).toMatchObject({ command: CellCommand.DESTROY, reason: DestroyReason.DESTROYED });
    expect(relays[2]!.exitRequests).toHaveLength(1);
  });

  it("refuses CREATE2 for a relay id that is not its own (a man in the middle cannot answer)", async () => {
    const { relays, transport } = await mesh();
    // A path naming relay 1's identity and onion key, but sent to relay 0's address.
    const forged = { ...relays[1]!.descriptor, address: relays[0]!.descriptor.address };
    await expect(Circuit.build([forged], transport, { clock: () => 0 })).rejects.toMatchObject({ code: "wrong_relay" });
    expect(relays[0]!.tables.keys.size).toBe(0);
  });

  it("answers an unknown link id with unknown_link and keeps serving its other circuits", async () => {
    const { relays, transport } = await mesh();
    const circuit = await Circuit.build(relays.map((r) => r.descriptor), transport, { clock: () => 0 });
    const stray = encodeCell({ command: CellCommand.RELAY, linkId: new Uint8Array(16), nonce: new Uint8Array(16), payload: new Uint8Array(512) });
    await expect(relays[0]!.engine.handle(stray, CLIENT_NEIGHBOUR)).rejects.toMatchObject({ code: "unknown_link" });
    const result = await circuit.request({ method: "GET", url: "http://x.test/", headers: [], body: new Uint8Array(0) });
    expect(result.ok).toBe(true);
  });

  it("refuses to extend where its policy forbids, and the failed build leaves no rows", async () => {
    const { relays, transport } = await mesh(3, () => false);
    await expect(Circuit.build(relays.map((r) => r.descriptor), transport, { clock: () => 0 })).rejects.toMatchObject({ code: "extend_failed" });
    expect(relays[1]!.received).toHaveLength(0);
    expect(relays.map((r) => r.tables.keys.size + r.tables.transfers.size)).toEqual([0, 0, 0]);
  });

  it("erases the entry's key row when the client refuses the entry's handshake answer", async () => {
    const { relays, transport } = await mesh();
    const corrupting: CellTransport = {
      send: async (address, cell) => {
        const answer = await transport.send(address, cell);
        if (answer[1] === CellCommand.CREATED2) answer[answer.length - 1]! ^= 1;
        return answer;
      },
    };
    await expect(Circuit.build(relays.map((r) => r.descriptor), corrupting, { clock: () => 0 })).rejects.toMatchObject({ code: "handshake_failed" });
    expect(relays[0]!.tables.keys.size).toBe(0);
  });
});
