import { describe, expect, it } from "vitest";
import { type Bytes, fromHex, toBase64Url, toHex, utf8 } from "./bytes.ts";
import { CellCommand, DestroyReason, decodeCell, encodeCell } from "./cell.ts";
import { importCircuitKeys } from "./circuit-keys.ts";
import { type CellTransport, Circuit, type CircuitHop, type ExitResult } from "./client.ts";
import type { Descriptor } from "./descriptor.ts";
import { originateBackward } from "./hop.ts";
import { encodeHttpResponse } from "./http-message.ts";
import { MemoryRelayTables } from "./memory-tables.ts";
import { ntorServer } from "./ntor.ts";
import { RelayCommand } from "./relay-cell.ts";
import { CLIENT_NEIGHBOUR, RelayEngine } from "./relay-engine.ts";
import { generateX25519 } from "./x25519.ts";

const GET = { method: "GET" as const, url: "http://origin.test/", headers: [], body: new Uint8Array(0) };

/** In-memory relays addressed by URL; `exit` decides what the last hop answers. */
async function mesh(count: number, exit: () => Promise<ExitResult> = async () => ({ ok: true, response: { status: 200, statusText: "OK", headers: [], body: utf8("hi") } })) {
  const engines = new Map<string, { engine: RelayEngine; tables: MemoryRelayTables }>();
  const descriptors: Descriptor[] = [];
  const deliver = async (address: string, cell: Bytes, neighbour: string) => {
    const relay = engines.get(address);
    if (!relay) throw new Error(`unreachable: ${address}`);
    return relay.engine.handle(cell, neighbour);
  };
  for (let i = 0; i < count; i++) {
    const id = toHex(crypto.getRandomValues(new Uint8Array(32)));
    const onionKey = await generateX25519();
    const address = `http://relays.test/relays/${id}`;
    const tables = new MemoryRelayTables();
    const engine = new RelayEngine({ identity: { id, relayId: fromHex(id), onionKey }, tables, clock: () => 0, exit, link: { send: (to, cell) => deliver(to, cell, id) } });
    engines.set(address, { engine, tables });
    descriptors.push({ id, address, onionKey: toBase64Url(onionKey.publicKey), identityKey: toBase64Url(new Uint8Array(32)), exitPolicy: "all", published: 0 });
  }
  const sent: Bytes[] = [];
  const transport: CellTransport = {
    send: (address, cell) => {
      sent.push(cell as Bytes);
      return deliver(address, cell as Bytes, CLIENT_NEIGHBOUR);
    },
  };
  const rows = () => [...engines.values()].map(({ tables }) => tables.keys.size + tables.transfers.size);
  const tables = [...engines.values()].map(({ tables }) => tables);
  return { descriptors, transport, sent, rows, tables };
}

const lastDestroy = (sent: Bytes[]) => {
  const cell = decodeCell(sent[sent.length - 1]!);
  return cell.command === CellCommand.DESTROY ? cell.reason : null;
};

describe("Circuit.build", () => {
  it("refuses an empty path with not_enough_relays", async () => {
    const { transport } = await mesh(0);
    await expect(Circuit.build([], transport, { clock: () => 0 })).rejects.toMatchObject({ code: "not_enough_relays" });
  });

  it("reports each hop in order with the time its handshake took", async () => {
    const { descriptors, transport } = await mesh(3);
    let now = 0;
    const hops: [number, CircuitHop][] = [];
    const circuit = await Circuit.build(descriptors, transport, { clock: () => (now += 5), onHop: (hop, index) => hops.push([index, hop]) });
    expect(hops.map(([index, hop]) => [index, hop.relay.id, hop.handshakeMs])).toEqual(descriptors.map((d, i) => [i, d.id, 5]));
    expect(circuit.hops).toHaveLength(3);
    expect(circuit.entry).toBe(descriptors[0]);
  });

  it("fails with handshake_failed when a man in the middle answers CREATE2 with his own onion key", async () => {
    const { descriptors } = await mesh(1);
    const mitmKey = await generateX25519();
    const entry = descriptors[0]!;
    const mitm: CellTransport = {
      send: async (_, bytes) => {
        const cell = decodeCell(bytes as Bytes);
        if (cell.command !== CellCommand.CREATE2) throw new Error("unexpected");
        const identity = { relayId: fromHex(entry.id), onionKey: { privateKey: mitmKey.privateKey, publicKey: cell.onionskin.subarray(32, 64) } };
        const { reply } = await ntorServer(cell.onionskin, identity);
        return encodeCell({ command: CellCommand.CREATED2, linkId: cell.linkId, reply });
      },
    };
    await expect(Circuit.build([entry], mitm, { clock: () => 0 })).rejects.toMatchObject({ code: "handshake_failed" });
  });

  it("fails with handshake_failed when the entry answers CREATE2 with anything but CREATED2", async () => {
    const refusing: CellTransport = { send: async (_, bytes) => encodeCell({ command: CellCommand.DESTROY, linkId: decodeCell(bytes as Bytes).linkId, reason: DestroyReason.HIBERNATING }) };
    const { descriptors } = await mesh(1);
    await expect(Circuit.build(descriptors, refusing, { clock: () => 0 })).rejects.toMatchObject({ code: "handshake_failed" });
  });

  it("tears down the partial circuit and reports extend_failed when a later hop is unreachable", async () => {
    const { descriptors, transport, sent, rows } = await mesh(2);
    const gone = { ...descriptors[1]!, address: `http://gone.test/relays/${descriptors[1]!.id}` };
    await expect(Circuit.build([descriptors[0]!, gone], transport, { clock: () => 0 })).rejects.toMatchObject({ code: "extend_failed" });
    expect(lastDestroy(sent)).toBe(DestroyReason.PROTOCOL);
    expect(rows()).toEqual([0, 0]);
  });
});

describe("Circuit.request", () => {
  it("returns the exit's error report as a result rather than throwing", async () => {
    const { descriptors, transport } = await mesh(3, async () => ({ ok: false, error: { error: "destination_refused", message: "private", status: 403 } }));
    const circuit = await Circuit.build(descriptors, transport, { clock: () => 0 });
    expect(await circuit.request(GET)).toEqual({ ok: false, error: { error: "destination_refused", message: "private", status: 403 } });
  });

  it("carries several requests over one circuit", async () => {
    let calls = 0;
    const { descriptors, transport } = await mesh(3, async () => ({ ok: true, response: { status: 200, statusText: "OK", headers: [], body: utf8(String(++calls)) } }));
    const circuit = await Circuit.build(descriptors, transport, { clock: () => 0 });
    for (let i = 1; i <= 3; i++) {
      const result = await circuit.request(GET);
      expect(result.ok && new TextDecoder().decode(result.response.body)).toBe(String(i));
    }
  });

  it("detects an answer altered on the way back, throws integrity_failed and destroys the circuit", async () => {
    const { descriptors, transport, sent, rows } = await mesh(3);
    const circuit = await Circuit.build(descriptors, transport, { clock: () => 0 });
    const flipping: CellTransport = {
      send: async (address, cell) => {
        const answer = (await transport.send(address, cell)).slice();
        if (decodeCell(answer as Bytes).command === CellCommand.RELAY) answer[answer.length - 1]! ^= 1;
        return answer;
      },
    };
    (circuit as unknown as { transport: CellTransport }).transport = flipping;
    await expect(circuit.request(GET)).rejects.toMatchObject({ code: "integrity_failed" });
    expect(circuit.isDestroyed).toBe(true);
    expect(lastDestroy(sent)).toBe(DestroyReason.INTEGRITY);
    expect(rows()).toEqual([0, 0, 0]);
  });

  it("refuses a response forged by the entry, which can guess the sequence number by counting cells", async () => {
    const { descriptors, transport, tables, sent } = await mesh(3);
    const circuit = await Circuit.build(descriptors, transport, { clock: () => 0 });
    const entryKeys = await importCircuitKeys([...tables[0]!.keys.values()][0]!.keyMaterial);
    const relayCellsSoFar = sent.filter((bytes) => decodeCell(bytes).command === CellCommand.RELAY).length;
    // The entry keeps the REQUEST to itself and answers under its own backward keys.
    (circuit as unknown as { transport: CellTransport }).transport = {
      send: async (_, bytes) => {
        const cell = decodeCell(bytes as Bytes);
        if (cell.command !== CellCommand.RELAY) return transport.send(descriptors[0]!.address, bytes);
        const data = encodeHttpResponse({ status: 200, statusText: "OK", headers: [], body: utf8("forged") });
        const payload = await originateBackward(entryKeys, cell.nonce, { command: RelayCommand.RESPONSE, seq: relayCellsSoFar + 1, data });
        return encodeCell({ command: CellCommand.RELAY, linkId: cell.linkId, nonce: cell.nonce, payload });
      },
    };
    await expect(circuit.request(GET)).rejects.toMatchObject({ code: "integrity_failed" });
  });

  it("marks the circuit destroyed when a hop answers with DESTROY", async () => {
    const { descriptors, transport } = await mesh(3);
    const circuit = await Circuit.build(descriptors, transport, { clock: () => 0 });
    (circuit as unknown as { transport: CellTransport }).transport = {
      send: async (_, cell) => encodeCell({ command: CellCommand.DESTROY, linkId: decodeCell(cell as Bytes).linkId, reason: DestroyReason.TIMEOUT }),
    };
    await expect(circuit.request(GET)).rejects.toMatchObject({ code: "circuit_destroyed" });
    expect(circuit.isDestroyed).toBe(true);
  });

  it("refuses an answer to a RELAY cell that is neither RELAY nor DESTROY", async () => {
    const { descriptors, transport } = await mesh(1);
    const circuit = await Circuit.build(descriptors, transport, { clock: () => 0 });
    (circuit as unknown as { transport: CellTransport }).transport = {
      send: async (_, cell) => encodeCell({ command: CellCommand.CREATED2, linkId: decodeCell(cell as Bytes).linkId, reply: new Uint8Array(64) }),
    };
    await expect(circuit.request(GET)).rejects.toMatchObject({ code: "malformed_cell" });
  });
});

describe("Circuit.destroy", () => {
  it("sends DESTROY once, with the given reason, however often it is called", async () => {
    const { descriptors, transport, sent } = await mesh(3);
    const circuit = await Circuit.build(descriptors, transport, { clock: () => 0 });
    const before = sent.length;
    await circuit.destroy(DestroyReason.REQUESTED);
    await circuit.destroy();
    expect(sent.length).toBe(before + 1);
    expect(lastDestroy(sent)).toBe(DestroyReason.REQUESTED);
  });
});
