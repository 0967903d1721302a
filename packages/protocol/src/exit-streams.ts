// The exit's streams: for each circuit that ends here, the TCP connections it asked for (BEGIN),
// the bytes relayed each way under flow control, and the backward cells waiting for a way back.
// No I/O of its own: the relay passes a connector (cloudflare:sockets in a Worker, node:net in
// tests), a clock, a timer and a byte budget.
//
// Backward cells travel as answers: every forward cell gets one. A DRAIN is held until a backward
// cell is ready (or `holdMs` passes: then IDLE); any other stream cell takes one if one is waiting.
// The exit reads from a socket only while both windows (stream and circuit) have room and that
// stream has nothing queued, so it buffers at most one read per stream backward, and at most a
// window of the client's bytes forward: a fast server cannot fill its memory, and a slow reader
// (who sends no SENDME) stops the reads, which stops the server through TCP.

import type { Bytes } from "./bytes.ts";
import { ProtocolError } from "./errors.ts";
import { ReceiveWindow, SendWindow } from "./flow-window.ts";
import { type RelayCell, RelayCommand, type SealableRelayCell } from "./relay-cell.ts";
import {
  CIRCUIT_SENDME_BYTES,
  CIRCUIT_WINDOW_BYTES,
  EndReason,
  MAX_STREAM_DATA,
  STREAM_SENDME_BYTES,
  STREAM_WINDOW_BYTES,
  decodeBegin,
  decodeData,
  decodeEnd,
  decodeSendme,
  encodeData,
  encodeEnd,
  encodeSendme,
  encodeStreamId,
  withOrder,
} from "./stream-cell.ts";

/** The smallest read buffer, and a stream's first. */
export const FIRST_READ_BYTES = 64 * 1024;
/** The next read's buffer is this many times what the last read returned, up to a whole DATA cell. */
const READ_GROWTH = 4;
/** How long a read the byte budget refused waits before it asks again. */
const BUDGET_RETRY_MS = 50;

/** A connected TCP socket as the exit uses it. */
export interface StreamSocket {
  /** At most `max` bytes as they come; null once the server has closed its side. */
  read(max: number): Promise<Bytes | null>;
  write(bytes: Bytes): Promise<void>;
  /** Closes both directions; pending reads and writes fail. */
  close(): void;
}

/** A BEGIN the exit will not carry out: the reason goes back to the client in END. */
export class StreamRefusal extends Error {
  override readonly name = "StreamRefusal";
  readonly reason: EndReason;
  constructor(reason: EndReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

export type StreamReply = Omit<SealableRelayCell, "seq">;

export interface ExitStreamsOptions {
  /** Opens a TCP connection; rejects with StreamRefusal (policy on what the name resolves to, refused, unreachable). */
  connect(host: string, port: number, signal: AbortSignal): Promise<StreamSocket>;
  /** The exit policy on the host and port as the client gave them: null, or the reason to refuse. */
  policy(host: string, port: number): EndReason | null;
  clock: () => number;
  /** Calls `fn` after `ms`; returns a function that cancels it. */
  timer: (ms: number, fn: () => void) => () => void;
  /** How long a DRAIN waits for a backward cell before it is answered IDLE. */
  holdMs: number;
  connectTimeoutMs: number;
  /** A stream with no byte either way for this long is closed (END TIMEOUT). */
  idleMs: number;
  maxStreamsPerCircuit: number;
  /** Streams this exit carries at once, over all its circuits. */
  maxStreams: number;
  /** Charges buffered bytes to the relay's memory budget; false when it has no room. */
  claim?: (bytes: number) => boolean;
  release?: (bytes: number) => void;
}

interface Queued {
  reply: StreamReply;
  /** Called once the cell has left on a way back. */
  sent?: () => void;
}

interface Stream {
  id: number;
  socket: StreamSocket;
  /** Backward: bytes the exit may still send before the client acknowledges some. */
  send: SendWindow;
  /** Forward: the client's bytes, checked against its window; SENDMEs owed as they reach the socket. */
  receive: ReceiveWindow;
  /** Backward DATA bytes queued and not yet on a way back. */
  queued: number;
  /** Bytes read that did not fit in the windows when they came: sent first, once they do. */
  held: Bytes | null;
  /** The size of the next read's buffer. */
  readSize: number;
  /** Resolves the reader when there may be room again. */
  wake: (() => void) | null;
  /** Forward bytes written one after another. */
  writing: Promise<void>;
  lastActive: number;
  closed: boolean;
}

interface CircuitStreams {
  /** Backward stream cells that have left so far: the next one's order is this plus one. */
  sent: number;
  streams: Map<number, Stream>;
  queue: Queued[];
  waiters: { deliver: (reply: StreamReply) => void }[];
  send: SendWindow;
  receive: ReceiveWindow;
  closed: boolean;
}

const IDLE: StreamReply = { command: RelayCommand.IDLE, data: new Uint8Array(0) };
const STREAM_COMMANDS = new Set<number>([RelayCommand.BEGIN, RelayCommand.DATA, RelayCommand.END, RelayCommand.SENDME, RelayCommand.DRAIN]);

export const isStreamCommand = (command: number): boolean => STREAM_COMMANDS.has(command);

export class ExitStreams {
  private readonly circuits = new Map<string, CircuitStreams>();
  private count = 0;
  private readonly options: ExitStreamsOptions;

  constructor(options: ExitStreamsOptions) {
    this.options = options;
  }

  /** The circuits that have (or had) streams here. */
  circuitKeys(): string[] {
    return [...this.circuits.keys()];
  }

  /** Streams open now, and bytes buffered for them (both directions). */
  stats(): { streams: number; bufferedBytes: number } {
    let bufferedBytes = 0;
    for (const circuit of this.circuits.values()) {
      for (const item of circuit.queue) bufferedBytes += item.reply.command === RelayCommand.DATA ? dataLength(item.reply) : 0;
      for (const stream of circuit.streams.values()) bufferedBytes += stream.held?.length ?? 0;
    }
    return { streams: this.count, bufferedBytes: bufferedBytes + this.forwardBuffered };
  }

  private forwardBuffered = 0;

  /** Answers a stream cell that came out of circuit `key` at this exit. Throws ProtocolError on a violation. */
  async handle(key: string, cell: RelayCell): Promise<StreamReply> {
    const circuit = this.circuit(key);
    switch (cell.command) {
      case RelayCommand.BEGIN:
        return this.begin(circuit, cell.data);
      case RelayCommand.DATA:
        return this.data(circuit, cell.data);
      case RelayCommand.SENDME:
        return this.sendme(circuit, cell.data);
      case RelayCommand.END:
        return this.end(circuit, cell.data);
      case RelayCommand.DRAIN:
        return this.drain(circuit);
      default:
        throw new ProtocolError("unknown_command", "Not a stream cell.");
    }
  }

  /** The circuit is gone: every socket is closed, every held DRAIN answered. */
  close(key: string): void {
    const circuit = this.circuits.get(key);
    if (!circuit) return;
    circuit.closed = true;
    this.circuits.delete(key);
    for (const stream of circuit.streams.values()) this.drop(circuit, stream);
    for (const waiter of circuit.waiters.splice(0)) waiter.deliver(IDLE);
    for (const item of circuit.queue.splice(0)) item.sent?.();
  }

  /** Closes streams idle for `idleMs` (END TIMEOUT to their clients). */
  expire(now: number): void {
    for (const circuit of this.circuits.values()) {
      for (const stream of [...circuit.streams.values()]) if (now - stream.lastActive >= this.options.idleMs) this.finish(circuit, stream, EndReason.TIMEOUT);
    }
  }

  private circuit(key: string): CircuitStreams {
    let circuit = this.circuits.get(key);
    if (!circuit) {
      circuit = { sent: 0, streams: new Map(), queue: [], waiters: [], send: new SendWindow(CIRCUIT_WINDOW_BYTES), receive: new ReceiveWindow(CIRCUIT_WINDOW_BYTES, CIRCUIT_SENDME_BYTES), closed: false };
      this.circuits.set(key, circuit);
    }
    return circuit;
  }

  private async begin(circuit: CircuitStreams, data: Bytes): Promise<StreamReply> {
    const { streamId, host, port } = decodeBegin(data);
    if (circuit.streams.has(streamId)) throw new ProtocolError("malformed_message", "That stream id is already in use on this circuit.");
    const refuse = (reason: number): StreamReply => ({ command: RelayCommand.END, data: withOrder(0, encodeEnd({ streamId, reason })) });
    if (circuit.streams.size >= this.options.maxStreamsPerCircuit || this.count >= this.options.maxStreams) return refuse(EndReason.RESOURCELIMIT);
    const refused = this.options.policy(host, port);
    if (refused !== null) return refuse(refused);
    const controller = new AbortController();
    // Counted while it connects, so a burst of BEGINs cannot pass the limits together.
    this.count++;
    let socket: StreamSocket;
    const cancel = this.options.timer(this.options.connectTimeoutMs, () => controller.abort());
    try {
      const connecting = this.options.connect(host, port, controller.signal);
      // A connection that opens after the deadline is closed, not left open.
      connecting.then((late) => (controller.signal.aborted ? late.close() : undefined), () => {});
      socket = await Promise.race([
        connecting,
        new Promise<never>((_, reject) => controller.signal.addEventListener("abort", () => reject(new StreamRefusal(EndReason.TIMEOUT, "connect timed out")))),
      ]);
    } catch (error) {
      this.count--;
      return refuse(error instanceof StreamRefusal ? error.reason : EndReason.CONNECTREFUSED);
    } finally {
      cancel();
    }
    if (circuit.closed || circuit.streams.has(streamId)) {
      this.count--;
      socket.close();
      return refuse(EndReason.DESTROY);
    }
    const stream: Stream = {
      id: streamId,
      socket,
      send: new SendWindow(STREAM_WINDOW_BYTES),
      receive: new ReceiveWindow(STREAM_WINDOW_BYTES, STREAM_SENDME_BYTES),
      queued: 0,
      held: null,
      readSize: FIRST_READ_BYTES,
      wake: null,
      writing: Promise.resolve(),
      lastActive: this.options.clock(),
      closed: false,
    };
    circuit.streams.set(streamId, stream);
    void this.pump(circuit, stream);
    return { command: RelayCommand.CONNECTED, data: withOrder(0, encodeStreamId(streamId)) };
  }

  /** Reads the server's bytes while the windows have room and nothing of this stream is queued. */
  private async pump(circuit: CircuitStreams, stream: Stream): Promise<void> {
    for (;;) {
      if (stream.closed) return;
      const room = Math.min(MAX_STREAM_DATA, stream.send.available, circuit.send.available);
      if (room <= 0 || stream.queued > 0) {
        await new Promise<void>((resolve) => (stream.wake = resolve));
        stream.wake = null;
        continue;
      }
      let bytes = stream.held ?? (await this.read(circuit, stream, room));
      stream.held = null;
      if (!bytes) continue;
      // The streams of a circuit read at once, each sized from the circuit's window as it was:
      // what no longer fits (the others' reads spent it meanwhile) is held until a SENDME.
      const fits = Math.min(bytes.length, stream.send.available, circuit.send.available);
      if (fits < bytes.length) stream.held = bytes.subarray(fits);
      if (fits === 0) continue;
      bytes = bytes.subarray(0, fits);
      stream.send.spend(fits);
      circuit.send.spend(fits);
      stream.queued += fits;
      stream.lastActive = this.options.clock();
      this.deliver(circuit, {
        reply: { command: RelayCommand.DATA, data: encodeData({ streamId: stream.id, bytes }) },
        sent: () => {
          stream.queued -= fits;
          this.options.release?.(fits);
          stream.wake?.();
        },
      });
    }
  }

  /**
   * One read of the server's bytes, at most `room`; null when there is nothing to send (the stream
   * may have ended). A pending read holds a buffer of its size while the server is silent: charged
   * to the budget for as long as it waits, and small unless the last read was large (a bulk
   * transfer), so streams that idle cannot fill the isolate with read buffers.
   */
  private async read(circuit: CircuitStreams, stream: Stream, room: number): Promise<Bytes | null> {
    const size = Math.min(room, stream.readSize);
    // The isolate's budget is spent, by whoever: this stream reads nothing (its server is slowed by
    // TCP) and tries again. Ending it would make a stream that holds no bytes pay for others'.
    while (this.options.claim && !this.options.claim(size)) {
      await new Promise<void>((resolve) => {
        const cancel = this.options.timer(BUDGET_RETRY_MS, resolve);
        stream.wake = () => (cancel(), resolve());
      });
      stream.wake = null;
      if (stream.closed) return null;
    }
    let bytes: Bytes | null;
    try {
      bytes = await stream.socket.read(size);
    } catch {
      this.options.release?.(size);
      this.finish(circuit, stream, EndReason.CONNRESET);
      return null;
    }
    // What was read stays charged until it is sent; the rest of the buffer is free again.
    const read = bytes?.length ?? 0;
    this.options.release?.(stream.closed ? size : size - read);
    stream.readSize = Math.max(FIRST_READ_BYTES, Math.min(read * READ_GROWTH, MAX_STREAM_DATA));
    if (bytes === null && !stream.closed) this.finish(circuit, stream, EndReason.DONE);
    return stream.closed || !bytes || bytes.length === 0 ? null : bytes;
  }

  private async data(circuit: CircuitStreams, data: Bytes): Promise<StreamReply> {
    const { streamId, bytes } = decodeData(data);
    const stream = circuit.streams.get(streamId);
    if (!stream) {
      // A stream this exit does not have (closed already, or lost with an evicted object): say so.
      this.deliver(circuit, { reply: { command: RelayCommand.END, data: encodeEnd({ streamId, reason: EndReason.MISC }) } });
      return this.take(circuit);
    }
    circuit.receive.received(bytes.length);
    stream.receive.received(bytes.length);
    stream.lastActive = this.options.clock();
    if (this.options.claim && !this.options.claim(bytes.length)) {
      this.finish(circuit, stream, EndReason.RESOURCELIMIT);
      return this.take(circuit);
    }
    this.forwardBuffered += bytes.length;
    // Written in order, without holding up this answer: the SENDMEs owed go back once the bytes
    // are in the socket, which is what slows a client down when the server reads slowly.
    const copy = bytes.slice();
    stream.writing = stream.writing.then(async () => {
      try {
        if (!stream.closed) await stream.socket.write(copy);
      } catch {
        this.finish(circuit, stream, EndReason.CONNRESET);
      } finally {
        this.forwardBuffered -= copy.length;
        this.options.release?.(copy.length);
      }
      if (stream.closed || circuit.closed) return;
      for (let owed = stream.receive.passed(copy.length); owed > 0; owed--) this.deliver(circuit, { reply: sendme(stream.id, STREAM_SENDME_BYTES) });
      for (let owed = circuit.receive.passed(copy.length); owed > 0; owed--) this.deliver(circuit, { reply: sendme(0, CIRCUIT_SENDME_BYTES) });
    });
    return this.take(circuit);
  }

  private sendme(circuit: CircuitStreams, data: Bytes): StreamReply {
    const { streamId, increment } = decodeSendme(data);
    if (streamId === 0) {
      circuit.send.grant(increment);
      for (const stream of circuit.streams.values()) stream.wake?.();
    } else {
      const stream = circuit.streams.get(streamId);
      if (stream) {
        stream.send.grant(increment);
        stream.wake?.();
      }
    }
    return this.take(circuit);
  }

  private end(circuit: CircuitStreams, data: Bytes): StreamReply {
    const { streamId } = decodeEnd(data);
    const stream = circuit.streams.get(streamId);
    // The client closed it: close the socket once what it sent before has been written.
    if (stream) {
      circuit.streams.delete(streamId);
      this.count--;
      void stream.writing.then(() => this.drop(circuit, stream, false));
    }
    return this.take(circuit);
  }

  private drain(circuit: CircuitStreams): Promise<StreamReply> | StreamReply {
    if (circuit.queue.length > 0) return this.take(circuit);
    return new Promise<StreamReply>((resolve) => {
      let cancel = () => {};
      const waiter = {
        deliver: (reply: StreamReply) => {
          cancel();
          resolve(reply);
        },
      };
      circuit.waiters.push(waiter);
      cancel = this.options.timer(this.options.holdMs, () => {
        const at = circuit.waiters.indexOf(waiter);
        if (at >= 0) circuit.waiters.splice(at, 1);
        resolve(IDLE);
      });
    });
  }

  /** The next backward cell for this circuit, or IDLE. */
  private take(circuit: CircuitStreams): StreamReply {
    const item = circuit.queue.shift();
    return item ? this.leave(circuit, item) : IDLE;
  }

  private deliver(circuit: CircuitStreams, item: Queued): void {
    if (circuit.closed) return item.sent?.();
    const waiter = circuit.waiters.shift();
    if (waiter) return waiter.deliver(this.leave(circuit, item));
    circuit.queue.push(item);
  }

  /** A queued cell leaves on a way back: it gets its order now, the order of leaving. */
  private leave(circuit: CircuitStreams, item: Queued): StreamReply {
    item.sent?.();
    return { command: item.reply.command, data: withOrder(++circuit.sent, item.reply.data) };
  }

  /** The exit ends the stream: socket closed, END(reason) queued for the client. */
  private finish(circuit: CircuitStreams, stream: Stream, reason: number): void {
    if (stream.closed || circuit.streams.get(stream.id) !== stream) return;
    circuit.streams.delete(stream.id);
    this.count--;
    this.drop(circuit, stream);
    this.deliver(circuit, { reply: { command: RelayCommand.END, data: encodeEnd({ streamId: stream.id, reason }) } });
  }

  private drop(circuit: CircuitStreams, stream: Stream, counted = true): void {
    if (stream.closed) return;
    stream.closed = true;
    if (counted && circuit.closed) this.count--;
    if (stream.held) this.options.release?.(stream.held.length);
    stream.held = null;
    try {
      stream.socket.close();
    } catch {}
    stream.wake?.();
  }
}

const sendme = (streamId: number, increment: number): StreamReply => ({ command: RelayCommand.SENDME, data: encodeSendme({ streamId, increment }) });

function dataLength(reply: StreamReply): number {
  const parts = reply.data instanceof Uint8Array ? [reply.data] : reply.data;
  return parts.reduce((sum, part) => sum + part.length, 0) - 2;
}
