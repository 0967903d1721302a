import { describe, expect, it } from "vitest";
import { fromBase64Url, fromHex, toBase64Url, toHex, utf8 } from "./bytes.ts";
import { CellCommand, DestroyReason, decodeCell, encodeCell } from "./cell.ts";
import { type CellTransport, Circuit } from "./client.ts";
import type { Descriptor } from "./descriptor.ts";
import type { HttpRequestMessage } from "./http-message.ts";
import { MemoryRelayTables } from "./memory-tables.ts";
import { CLIENT_NEIGHBOUR, RelayEngine } from "./relay-engine.ts";
import { ntorClientStart } from "./ntor.ts";
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
      descriptor: { id, address: `http://relays.test/relays/${id}`, onionKey: toBase64Url(onionKey.publicKey), identityKey: toBase64Url(new Uint8Array(32)), exitPolicy: "all", published: 0 },
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

  it("refuses an onionskin it has seen before, whatever link id and neighbour it comes with", async () => {
    const { relays } = await mesh(1);
    const relay = relays[0]!;
    const { onionskin } = await ntorClientStart(fromHex(relay.descriptor.id), fromBase64Url(relay.descriptor.onionKey));
    const create = () => encodeCell({ command: CellCommand.CREATE2, linkId: crypto.getRandomValues(new Uint8Array(16)), onionskin });
    expect(decodeCell(await relay.engine.handle(create(), "a".repeat(64))).command).toBe(CellCommand.CREATED2);
    for (const neighbour of ["b".repeat(64), CLIENT_NEIGHBOUR]) {
      await expect(relay.engine.handle(create(), neighbour)).rejects.toMatchObject({ code: "handshake_failed" });
    }
    expect(relay.tables.keys.size).toBe(1);
  });

  it("answers an unknown link id with unknown_link and keeps serving its other circuits", async () => {
    const { relays, transport } = await mesh();
    const circuit = await Circuit.build(relays.map((r) => r.descriptor), transport, { clock: () => 0 });
    const stray = encodeCell({ command: CellCommand.RELAY, linkId: new Uint8Array(16), nonce: new Uint8Array(16), payload: new Uint8Array(512) });
    await expect(relays[0]!.engine.handle(stray, CLIENT_NEIGHBOUR)).rejects.toMatchObject({ code: "unknown_link" });
    const result = await circuit.request({ method: "GET", url: "http://x.test/", headers: [], body: new Uint8Array(0) });
    expect(result.ok).toBe(true);
  });

  it("bounds a circuit's length with RELAY_EARLY: nine hops build and carry a request, a tenth hop destroys the circuit", async () => {
    const { relays, transport } = await mesh(10);
    const nine = await Circuit.build(relays.slice(0, 9).map((r) => r.descriptor), transport, { clock: () => 0 });
    expect(await nine.request({ method: "GET", url: "http://origin.test/deep", headers: [], body: new Uint8Array(0) })).toMatchObject({ ok: true });
    // The entry passed the EXTEND2s on as RELAY_EARLY, and counted them.
    expect(relays[0]!.forwarded.filter((cell) => cell[1] === CellCommand.RELAY_EARLY)).toHaveLength(7);
    await expect(Circuit.build(relays.map((r) => r.descriptor), transport, { clock: () => 0 })).rejects.toMatchObject({ code: "circuit_destroyed" });
    expect(relays[9]!.tables.keys.size).toBe(0);
  });

  it("extends only on a RELAY_EARLY cell: an EXTEND2 in a plain RELAY cell destroys the circuit", async () => {
    const { relays, transport } = await mesh();
    // A client that sends its EXTEND2 in RELAY cells, which no relay counts.
    const plain: CellTransport = { send: (address, cell) => (cell[1] === CellCommand.RELAY_EARLY ? transport.send(address, Uint8Array.from(cell, (b, i) => (i === 1 ? CellCommand.RELAY : b))) : transport.send(address, cell)) };
    await expect(Circuit.build(relays.map((r) => r.descriptor), plain, { clock: () => 0 })).rejects.toMatchObject({ code: "circuit_destroyed" });
    expect(relays[1]!.received).toHaveLength(0);
    expect(relays.map((r) => r.tables.keys.size + r.tables.transfers.size)).toEqual([0, 0, 0]);
  });

  it("refuses to extend a circuit straight back to the relay it came from", async () => {
    const { relays, transport } = await mesh(2);
    const [a, b] = relays.map((r) => r.descriptor);
    await expect(Circuit.build([a!, b!, a!], transport, { clock: () => 0 })).rejects.toMatchObject({ code: "extend_failed" });
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
        // The last byte of the reply (its AUTH), before the padding.
        if (answer[1] === CellCommand.CREATED2) answer[2 + 16 + 2 + 64 - 1]! ^= 1;
        return answer;
      },
    };
    await expect(Circuit.build(relays.map((r) => r.descriptor), corrupting, { clock: () => 0 })).rejects.toMatchObject({ code: "handshake_failed" });
    expect(relays[0]!.tables.keys.size).toBe(0);
  });
});

describe("RelayEngine's own DESTROY reasons", () => {
  it("forwards a client's DESTROY with a reason of its own, never the byte it received", async () => {
    const { relays, transport } = await mesh();
    const circuit = await Circuit.build(relays.map((r) => r.descriptor), transport, { clock: () => 0 });
    // Any byte the client chooses: were it passed on, the exit would read it (an 8-bit channel).
    await circuit.destroy(0xab);
    const sentOn = [relays[0]!, relays[1]!].map((r) => decodeCell(r.forwarded.at(-1) as Uint8Array<ArrayBuffer>));
    for (const cell of sentOn) expect(cell).toMatchObject({ command: CellCommand.DESTROY, reason: DestroyReason.DESTROYED });
    const received = decodeCell(relays[2]!.received.at(-1) as Uint8Array<ArrayBuffer>);
    expect(received).toMatchObject({ command: CellCommand.DESTROY, reason: DestroyReason.DESTROYED });
    expect(relays.map((r) => r.tables.keys.size + r.tables.transfers.size)).toEqual([0, 0, 0]);
  });

  it("acknowledges a DESTROY without echoing its reason", async () => {
    const { relays } = await mesh(1);
    const answer = decodeCell((await relays[0]!.engine.handle(encodeCell({ command: CellCommand.DESTROY, linkId: new Uint8Array(16), reason: 0x77 }), CLIENT_NEIGHBOUR)) as Uint8Array<ArrayBuffer>);
    expect(answer).toMatchObject({ command: CellCommand.DESTROY, reason: DestroyReason.NONE });
  });
});

describe("RelayEngine extends only to a relay's own cell endpoint", () => {
  const extendTo = async (rewrite: (address: string, id: string) => string) => {
    const { relays, transport } = await mesh();
    const path = relays.map((r) => r.descriptor);
    const target = path[2]!;
    const crafted = { ...target, address: rewrite(target.address, target.id) };
    const outcome = await Circuit.build([path[0]!, path[1]!, crafted], transport, { clock: () => 0 }).then(
      () => "built",
      (error: { code?: string; message?: string }) => `${error.code}: ${error.message}`,
    );
    return { outcome, sentByMiddle: relays[1]!.forwarded.length, rows: relays.map((r) => r.tables.keys.size + r.tables.transfers.size) };
  };

  it("extends to <base>/relays/<id>", async () => {
    expect((await extendTo((address) => address)).outcome).toBe("built");
  });

  it.each([
    ["a dot-dot walk to the gateway", (a: string, id: string) => `${a.slice(0, -id.length - 8)}/relays/../fetch?url=http://x.test/${id}`],
    ["a percent-encoded walk", (a: string, id: string) => `${a.slice(0, -id.length - 8)}/relays/%2e%2e/relays/${id}`],
    ["a query after the id", (a: string) => `${a}?url=http://x.test/`],
    ["a fragment", (a: string) => `${a}#cell`],
    ["userinfo", (a: string) => a.replace("http://", "http://user:pw@")],
    ["a trailing route", (a: string) => `${a}/cell`],
    ["another relay's id", (a: string, id: string) => a.replace(id, "0".repeat(64))],
    ["a space", (a: string, id: string) => a.replace(`/relays/${id}`, `/relays /${id}`)],
  ])("refuses %s before any cell leaves the relay", async (_, rewrite) => {
    const { outcome, sentByMiddle, rows } = await extendTo(rewrite);
    expect(outcome).toMatch(/^extend_failed: .*canonical/);
    // The middle sent nothing anywhere: not even the CREATE2.
    expect(sentByMiddle).toBe(0);
    expect(rows).toEqual([0, 0, 0]);
  });
});
