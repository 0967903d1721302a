// Streams through a whole circuit in memory: three RelayEngines (real crypto, memory tables), the
// exit's ExitStreams on real TCP sockets (node:net) to real servers on loopback, and the client's
// StreamMux. What the issue asks of streams, checked end to end without a runtime.

import { createHash } from "node:crypto";
import { type AddressInfo, type Server, type Socket, connect as netConnect, createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type Bytes, fromHex, toBase64Url, toHex } from "./bytes.ts";
import { type CellTransport, Circuit } from "./client.ts";
import type { Descriptor } from "./descriptor.ts";
import { ExitStreams, type ExitStreamsOptions, FIRST_READ_BYTES, StreamRefusal, type StreamSocket } from "./exit-streams.ts";
import { MemoryRelayTables } from "./memory-tables.ts";
import { CLIENT_NEIGHBOUR, RelayEngine } from "./relay-engine.ts";
import { EndReason, MAX_STREAM_DATA, STREAM_WINDOW_BYTES } from "./stream-cell.ts";
import { StreamError, StreamMux } from "./stream-mux.ts";
import { generateX25519 } from "./x25519.ts";

/** A node:net socket as the exit uses it: reads of at most `max` bytes, writes that wait for drain. */
function nodeSocket(socket: Socket): StreamSocket {
  let ended = false;
  let failed: Error | null = null;
  let leftover: Buffer | null = null;
  let wake: (() => void) | null = null;
  socket.pause();
  socket.on("readable", () => wake?.());
  socket.on("end", () => {
    ended = true;
    wake?.();
  });
  socket.on("error", (error) => {
    failed = error;
    wake?.();
  });
  socket.on("close", () => {
    ended = true;
    wake?.();
  });
  return {
    async read(max) {
      for (;;) {
        const chunk: Buffer | null = leftover ?? socket.read();
        leftover = null;
        if (chunk) {
          if (chunk.length > max) leftover = chunk.subarray(max);
          return new Uint8Array(chunk.subarray(0, max));
        }
        if (failed) throw failed;
        if (ended) return null;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
    },
    write: (bytes) =>
      new Promise((resolve, reject) => {
        if (socket.write(bytes, (error) => (error ? reject(error) : undefined))) resolve();
        else socket.once("drain", () => resolve());
      }),
    close: () => socket.destroy(),
  };
}

const nodeConnector: ExitStreamsOptions["connect"] = (host, port) =>
  new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    socket.once("connect", () => resolve(nodeSocket(socket)));
    socket.once("error", () => reject(new StreamRefusal(EndReason.CONNECTREFUSED, "refused")));
  });

function timer(ms: number, fn: () => void) {
  const handle = setTimeout(fn, ms);
  return () => clearTimeout(handle);
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

async function listen(onConnection: (socket: Socket) => void): Promise<number> {
  const server = createServer(onConnection);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

async function network(options: Partial<ExitStreamsOptions> = {}) {
  const engines = new Map<string, RelayEngine>();
  const exits: ExitStreams[] = [];
  const deliver = (address: string, cell: Uint8Array, neighbour: string) => engines.get(address.split("/").pop()!)!.handle(cell as Bytes, neighbour);
  const descriptors: Descriptor[] = [];
  for (let i = 0; i < 3; i++) {
    const id = toHex(crypto.getRandomValues(new Uint8Array(32)));
    const onionKey = await generateX25519();
    const streams = new ExitStreams({
      connect: nodeConnector,
      policy: (_, port) => (port === 9 ? EndReason.EXITPOLICY : null),
      clock: Date.now,
      timer,
      holdMs: 200,
      connectTimeoutMs: 2000,
      idleMs: 60_000,
      maxStreamsPerCircuit: 64,
      maxStreams: 256,
      ...options,
    });
    exits.push(streams);
    engines.set(id, new RelayEngine({ identity: { id, relayId: fromHex(id), onionKey }, tables: new MemoryRelayTables(), clock: Date.now, link: { send: (address, cell) => deliver(address, cell, id) }, exit: async () => ({ ok: false, error: { error: "exit_failed", message: "no", status: 502 } }), streams }));
    descriptors.push({ id, address: `http://relays.test/relays/${id}`, onionKey: toBase64Url(onionKey.publicKey), identityKey: toBase64Url(new Uint8Array(32)), exitPolicy: "all", published: 0 });
  }
  const transport: CellTransport = { send: (address, cell) => deliver(address, cell, CLIENT_NEIGHBOUR) };
  const circuit = await Circuit.build(descriptors, transport, { clock: Date.now });
  return { circuit, mux: new StreamMux(circuit), exit: exits[2]! };
}

async function readAll(stream: { read(): Promise<Bytes | null> }): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let chunk = await stream.read(); chunk; chunk = await stream.read()) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

describe("streams through a circuit", () => {
  it("carries bytes both ways to a TCP server and back, in order", async () => {
    const port = await listen((socket) => socket.pipe(socket));
    const { mux } = await network();
    const stream = await mux.open("127.0.0.1", port);
    await stream.write(new TextEncoder().encode("hello, "));
    await stream.write(new TextEncoder().encode("exit"));
    let got = "";
    while (got.length < 11) got += new TextDecoder().decode((await stream.read())!);
    expect(got).toBe("hello, exit");
    await stream.end();
  });

  it("downloads 10 MiB byte for byte, without the client sending anything after its request", async () => {
    const payload = crypto.getRandomValues(new Uint8Array(10 * 1024 * 1024).subarray(0, 65536));
    const big = Buffer.alloc(10 * 1024 * 1024);
    for (let i = 0; i < big.length; i += payload.length) big.set(payload, i);
    const port = await listen((socket) => socket.end(big));
    const { mux } = await network();
    const stream = await mux.open("127.0.0.1", port);
    const received = await readAll(stream);
    expect(received.length).toBe(big.length);
    expect(createHash("sha256").update(received).digest("hex")).toBe(createHash("sha256").update(big).digest("hex"));
  }, 30_000);

  it("shares the circuit's window among streams whose reads are all pending at once, and none of them stalls", async () => {
    // Sockets that answer each read a little later, with as many bytes as asked: every stream's
    // first read is pending together, each sized against the same circuit window, so together
    // they read more than it holds. The bytes that no longer fit must wait for a SENDME: spent
    // anyway, they overdrew the window and stopped their stream for good, silently.
    const each = 1024 * 1024;
    const slowSocket = () => {
      let left = each;
      return {
        async read(max: number) {
          await new Promise((resolve) => setTimeout(resolve, 5));
          if (left === 0) return null;
          const n = Math.min(max, left);
          left -= n;
          return new Uint8Array(n) as Bytes;
        },
        async write() {},
        close() {},
      };
    };
    const { mux } = await network({ connect: async () => slowSocket() });
    const streams = await Promise.all(Array.from({ length: 20 }, () => mux.open("127.0.0.1", 80)));
    const received = await Promise.all(streams.map(async (stream) => (await readAll(stream)).length));
    expect(received).toEqual(streams.map(() => each));
  }, 30_000);

  it("charges the buffers of reads waiting on silent servers to the budget, small ones, and frees them when the streams end", async () => {
    // Twenty streams to a server that never speaks: each holds one pending read. Uncharged and a
    // whole DATA cell each, streams that idle could fill the isolate without a byte sent.
    let held = 0;
    const sockets: Socket[] = [];
    const port = await listen((socket) => sockets.push(socket));
    const { mux } = await network({ claim: (bytes) => ((held += bytes), true), release: (bytes) => (held -= bytes) });
    const streams = await Promise.all(Array.from({ length: 20 }, () => mux.open("127.0.0.1", port)));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(held).toBe(20 * FIRST_READ_BYTES);
    await Promise.all(streams.map((stream) => stream.end()));
    const deadline = Date.now() + 5_000;
    while (held !== 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(held).toBe(0);
  });

  it("holds a stream's reads while the byte budget is spent by others, then carries every byte: the stream is not ended", async () => {
    const payload = new Uint8Array(300 * 1024).map((_, i) => (i * 7919) & 0xff);
    const port = await listen((socket) => socket.end(payload));
    // Spent for the first 400 ms (as by other circuits' cells in flight), then free again.
    const spentUntil = Date.now() + 400;
    let refused = 0;
    const { mux } = await network({
      claim: () => {
        if (Date.now() < spentUntil) return (refused++, false);
        return true;
      },
      release: () => {},
    });
    const stream = await mux.open("127.0.0.1", port);
    const received = await readAll(stream);
    expect(refused).toBeGreaterThan(1);
    expect(Buffer.compare(received, Buffer.from(payload))).toBe(0);
  });

  it("uploads 3 MiB byte for byte, within the flow-control windows", async () => {
    let resolveDigest!: (digest: string) => void;
    const digest = new Promise<string>((resolve) => (resolveDigest = resolve));
    const port = await listen((socket) => {
      const hash = createHash("sha256");
      socket.on("data", (chunk) => hash.update(chunk));
      socket.on("end", () => {
        resolveDigest(hash.digest("hex"));
        socket.end();
      });
    });
    const upload = crypto.getRandomValues(new Uint8Array(65536));
    const big = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i += upload.length) big.set(upload, i);
    const { mux } = await network();
    const stream = await mux.open("127.0.0.1", port);
    await stream.write(new Uint8Array(big));
    await stream.end();
    expect(await digest).toBe(createHash("sha256").update(big).digest("hex"));
  }, 30_000);

  it("carries 20 streams on one circuit at once, each its own bytes", async () => {
    const port = await listen((socket) => socket.once("data", (first) => socket.end(Buffer.concat(Array.from({ length: 200 }, () => first)))));
    const { mux } = await network();
    const results = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const stream = await mux.open("127.0.0.1", port);
        const tag = `stream-${String(i).padStart(3, "0")};`;
        await stream.write(new TextEncoder().encode(tag));
        return { tag, body: (await readAll(stream)).toString() };
      }),
    );
    for (const { tag, body } of results) expect(body).toBe(tag.repeat(200));
  }, 30_000);

  it("refuses a port the exit policy forbids, with its reason", async () => {
    const { mux } = await network();
    await expect(mux.open("127.0.0.1", 9)).rejects.toMatchObject({ name: "StreamError", reason: EndReason.EXITPOLICY });
  });

  it("reports a refused connection, and the circuit carries other streams afterwards", async () => {
    const closed = await listen(() => {});
    servers.pop()!.close();
    const { mux } = await network();
    await expect(mux.open("127.0.0.1", closed)).rejects.toMatchObject({ reason: EndReason.CONNECTREFUSED });
    const port = await listen((socket) => socket.end("still here"));
    expect((await readAll(await mux.open("127.0.0.1", port))).toString()).toBe("still here");
  });

  it("ends a BEGIN whose connection is not open by the deadline with TIMEOUT, and closes the connection if it opens later", async () => {
    let closed = 0;
    let failLate = false;
    const connect: ExitStreamsOptions["connect"] = () =>
      new Promise((resolve, reject) =>
        setTimeout(() => (failLate ? reject(new Error("late failure")) : resolve({ read: async () => null, write: async () => {}, close: () => void closed++ })), 150),
      );
    const { mux } = await network({ connect, connectTimeoutMs: 50 });
    await expect(mux.open("example.test", 443)).rejects.toMatchObject({ reason: EndReason.TIMEOUT });
    await expect.poll(() => closed, { timeout: 2_000 }).toBe(1);
    // One failing after its deadline changes nothing.
    failLate = true;
    await expect(mux.open("example.test", 443)).rejects.toMatchObject({ reason: EndReason.TIMEOUT });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(closed).toBe(1);
  });

  it("ends the client's stream when the server closes, and the server's socket when the client closes", async () => {
    let serverSawEnd!: () => void;
    const sawEnd = new Promise<void>((resolve) => (serverSawEnd = resolve));
    const port = await listen((socket) => {
      socket.on("data", () => {});
      socket.on("end", () => serverSawEnd());
      socket.on("close", () => serverSawEnd());
    });
    const closing = await listen((socket) => socket.end("bye"));
    const { mux } = await network();
    const byServer = await mux.open("127.0.0.1", closing);
    expect((await readAll(byServer)).toString()).toBe("bye");
    const byClient = await mux.open("127.0.0.1", port);
    await byClient.write(new TextEncoder().encode("x"));
    await byClient.end();
    await sawEnd;
  });

  it("bounds what the exit buffers for a slow reader, and the server is slowed down by TCP", async () => {
    let written = 0;
    let stalled!: () => void;
    const serverStalled = new Promise<void>((resolve) => (stalled = resolve));
    const port = await listen((socket) => {
      const chunk = Buffer.alloc(64 * 1024, 7);
      const pump = () => {
        while (written < 256 * 1024 * 1024) {
          written += chunk.length;
          if (!socket.write(chunk)) {
            stalled();
            socket.once("drain", pump);
            return;
          }
        }
      };
      socket.on("error", () => {});
      pump();
    });
    const { mux, exit } = await network();
    const stream = await mux.open("127.0.0.1", port);
    // The client reads nothing: after the window, the exit stops reading and TCP stops the server.
    await serverStalled;
    await new Promise((resolve) => setTimeout(resolve, 500));
    const stats = exit.stats();
    expect(stats.bufferedBytes).toBeLessThanOrEqual(MAX_STREAM_DATA);
    // What left the server: the stream window in the client, one read at the exit, and the kernel's buffers.
    expect(written).toBeLessThan(STREAM_WINDOW_BYTES + MAX_STREAM_DATA + 16 * 1024 * 1024);
    const before = written;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(written).toBe(before);
    // Reading resumes the flow.
    let read = 0;
    while (read < 4 * 1024 * 1024) read += (await stream.read())!.length;
    expect(written).toBeGreaterThan(before);
    await stream.end();
  }, 30_000);

  it("tears the circuit down when the client sends past the exit's window", async () => {
    const port = await listen((socket) => socket.resume());
    const { mux, circuit } = await network();
    const stream = await mux.open("127.0.0.1", port);
    // Bypass the client's own window check, as a hostile client would.
    (stream.send as unknown as { left: number }).left = Number.MAX_SAFE_INTEGER;
    (mux as unknown as { sendWindow: { left: number } }).sendWindow.left = Number.MAX_SAFE_INTEGER;
    await expect(stream.write(new Uint8Array(STREAM_WINDOW_BYTES + 65536))).rejects.toBeDefined();
    expect(circuit.isDestroyed).toBe(true);
  }, 30_000);

  it("fails every stream of a circuit that is torn down, with a StreamError", async () => {
    const port = await listen(() => {});
    const { mux, circuit } = await network();
    const stream = await mux.open("127.0.0.1", port);
    const reading = stream.read();
    await circuit.destroy();
    await mux.exchange(8, new Uint8Array(2)).catch(() => {});
    await expect(reading).rejects.toBeInstanceOf(StreamError);
  });
});
