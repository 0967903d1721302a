// Streams through Relay Durable Objects: the client's WebSocket link to the entry, RPC between the
// relays, and the exit's connect() to real TCP servers on loopback (test/origin-server.ts).

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Circuit, EndReason, MAX_STREAM_DATA, StreamMux, type ExitStreams } from "@shallot/protocol";
import { describe, expect, it } from "vitest";
import type { Relay } from "../src/relay.ts";
import { addRelays, relayStub, webSocketClientTransport } from "./helpers.ts";

const testEnv = () => env as unknown as Cloudflare.Env;
const ports = (): { echo: number; big: number; flood: number } => JSON.parse(testEnv().TCP_PORTS);
const flooded = async (): Promise<number> => ((await (await fetch(testEnv().FLOOD_URL!)).json()) as { written: number }).written;

async function mux() {
  const relays = await addRelays(3);
  const circuit = await Circuit.build(relays, webSocketClientTransport(), { clock: Date.now });
  return { mux: new StreamMux(circuit), circuit, exit: relays[2]! };
}

async function readAll(stream: { read(): Promise<Uint8Array | null> }): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  for (let chunk = await stream.read(); chunk; chunk = await stream.read()) {
    parts.push(chunk);
    length += chunk.length;
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

describe("streams through Relay Durable Objects", () => {
  it("carries bytes to a TCP server and back over the client's WebSocket link", async () => {
    const { mux: streams } = await mux();
    const stream = await streams.open("127.0.0.1", ports().echo);
    await stream.write(new TextEncoder().encode("ping through three relays") as Uint8Array<ArrayBuffer>);
    let echoed = "";
    while (echoed.length < 25) echoed += new TextDecoder().decode((await stream.read())!);
    expect(echoed).toBe("ping through three relays");
    await stream.end();
  });

  it("downloads 10 MiB from a TCP server byte for byte", async () => {
    const { mux: streams } = await mux();
    const received = await readAll(await streams.open("127.0.0.1", ports().big));
    expect(received.length).toBe(10 * 1024 * 1024);
    let mismatches = 0;
    for (let i = 0; i < received.length; i++) if (received[i] !== Math.imul(i, 2654435761) >>> 24) mismatches++;
    expect(mismatches).toBe(0);
  }, 60_000);

  it("refuses a port outside the exit policy with END EXITPOLICY, before any connection", async () => {
    const { mux: streams } = await mux();
    await expect(streams.open("127.0.0.1", 65500)).rejects.toMatchObject({ name: "StreamError", reason: EndReason.EXITPOLICY });
  });

  it("refuses a host no URL can hold with END EXITPOLICY, and the circuit goes on carrying streams", async () => {
    const { mux: streams } = await mux();
    // The honest client never sends these; a hostile one can, as BEGIN's host grammar allows them.
    for (const host of ["[1]", "08.0.0.1", "[:::]", "[::ffff:999.0.0.1]"]) {
      await expect(streams.open(host, ports().echo), host).rejects.toMatchObject({ name: "StreamError", reason: EndReason.EXITPOLICY });
    }
    const stream = await streams.open("127.0.0.1", ports().echo);
    await stream.write(new TextEncoder().encode("still here") as Uint8Array<ArrayBuffer>);
    expect(new TextDecoder().decode((await stream.read())!)).toBe("still here");
    await stream.end();
  });

  it("bounds what the exit buffers when the client does not read, and the server stalls", async () => {
    const { mux: streams, exit } = await mux();
    const before = await flooded();
    const stream = await streams.open("127.0.0.1", ports().flood);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const written = (await flooded()) - before;
    const buffered = await runInDurableObject(relayStub(exit.id), (relay: Relay) => (relay as unknown as { streams: ExitStreams }).streams.stats());
    expect(buffered.streams).toBe(1);
    expect(buffered.bufferedBytes).toBeLessThanOrEqual(MAX_STREAM_DATA);
    // The server has stopped: what it wrote sits in the stream window, one read and the kernel's buffers.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await flooded()) - before).toBe(written);
    expect(written).toBeLessThan(24 * 1024 * 1024);
    await stream.end();
  }, 20_000);

  it("closes the exit's sockets when the circuit is torn down", async () => {
    const { mux: streams, circuit, exit } = await mux();
    await streams.open("127.0.0.1", ports().echo);
    const open = () => runInDurableObject(relayStub(exit.id), (relay: Relay) => (relay as unknown as { streams: ExitStreams }).streams.stats().streams);
    expect(await open()).toBe(1);
    await circuit.destroy();
    await expect.poll(open, { timeout: 3_000 }).toBe(0);
  });
});
