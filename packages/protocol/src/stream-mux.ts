// The client's side of streams: many TCP connections through one circuit's exit, each with its
// own stream id (tor-spec 6). The mux keeps a few DRAINs waiting at the exit while streams are
// open, so the server's bytes come back without the client sending anything; it hands each
// backward cell to its stream, keeps both flow-control windows, and owes the exit a SENDME as the
// application reads. No I/O of its own: it talks through the circuit.

import type { Bytes } from "./bytes.ts";
import type { Circuit } from "./client.ts";
import { ProtocolError, isProtocolError } from "./errors.ts";
import { LinkError } from "./link.ts";
import { ReceiveWindow, SendWindow } from "./flow-window.ts";
import { type RelayCell, RelayCommand } from "./relay-cell.ts";
import {
  CIRCUIT_SENDME_BYTES,
  CIRCUIT_WINDOW_BYTES,
  END_REASON_TEXT,
  EndReason,
  MAX_STREAM_DATA,
  MAX_STREAM_ID,
  STREAM_SENDME_BYTES,
  STREAM_WINDOW_BYTES,
  decodeData,
  decodeEnd,
  decodeSendme,
  decodeStreamId,
  encodeBegin,
  encodeData,
  encodeEnd,
  encodeSendme,
  splitOrder,
} from "./stream-cell.ts";

/** A stream the exit ended or refused: `reason` is its END reason (0 when the circuit failed). */
export class StreamError extends Error {
  override readonly name = "StreamError";
  readonly reason: number;
  constructor(reason: number, message: string) {
    super(message);
    this.reason = reason;
  }
}

export interface StreamMuxOptions {
  /** DRAINs kept waiting at the exit while any stream is open. */
  drains?: number;
  /**
   * Cells in flight on the circuit at once: kept well under the exit's replay window (32), since
   * cells sent together may arrive in another order.
   */
  maxInFlight?: number;
}

/** One TCP connection through the circuit: bytes in order both ways, ended by either side. */
export class ClientStream {
  private readonly chunks: Bytes[] = [];
  private waiting: (() => void) | null = null;
  /** Why the stream is over: set once. */
  private ending: StreamError | null = null;
  private remoteDone = false;
  /** DATA of this stream goes one cell at a time, in order. */
  private sending: Promise<void> = Promise.resolve();
  /** Forward: bytes this client may still send. */
  readonly send = new SendWindow(STREAM_WINDOW_BYTES);
  /** Backward: the exit's bytes, checked against its window. */
  readonly receive = new ReceiveWindow(STREAM_WINDOW_BYTES, STREAM_SENDME_BYTES);
  private room: (() => void) | null = null;
  private settle: () => void = () => {};
  /** Resolves once the stream is over, whichever side ended it. */
  readonly finished: Promise<void>;
  readonly id: number;
  private readonly mux: StreamMux;

  constructor(id: number, mux: StreamMux) {
    this.id = id;
    this.mux = mux;
    this.finished = new Promise((resolve) => (this.settle = resolve));
  }

  /** The next bytes from the server, in order; null once the server closed the connection. */
  async read(): Promise<Bytes | null> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk) {
        this.mux.passedOn(this, chunk.length);
        return chunk;
      }
      if (this.remoteDone) return null;
      if (this.ending) throw this.ending;
      await new Promise<void>((resolve) => (this.waiting = resolve));
      this.waiting = null;
    }
  }

  /** Sends bytes to the server, in DATA cells, as the windows allow. */
  write(bytes: Bytes): Promise<void> {
    const turn = this.sending.then(async () => {
      for (let at = 0; at < bytes.length; ) {
        if (this.ending || this.remoteDone) throw this.ending ?? new StreamError(EndReason.DONE, "The stream is closed.");
        const room = Math.min(MAX_STREAM_DATA, this.send.available, this.mux.sendRoom);
        if (room <= 0) {
          await new Promise<void>((resolve) => (this.room = resolve));
          this.room = null;
          continue;
        }
        const part = bytes.subarray(at, at + room);
        this.send.spend(part.length);
        this.mux.spend(part.length);
        await this.mux.exchange(RelayCommand.DATA, encodeData({ streamId: this.id, bytes: part }));
        at += part.length;
      }
    });
    this.sending = turn.catch(() => {});
    return turn;
  }

  /** Closes the connection from this side (END); bytes already written go first. */
  async end(): Promise<void> {
    await this.sending;
    if (this.ending || this.remoteDone) {
      this.settle();
      return this.mux.forget(this);
    }
    this.ending = new StreamError(EndReason.DONE, "The stream was closed.");
    this.mux.forget(this);
    this.settle();
    await this.mux.exchange(RelayCommand.END, encodeEnd({ streamId: this.id, reason: EndReason.DONE })).catch(() => {});
  }

  get closed(): boolean {
    return this.ending !== null || this.remoteDone;
  }

  /** @internal A DATA cell from the exit. */
  pushData(bytes: Bytes): void {
    this.receive.received(bytes.length);
    if (bytes.length > 0) this.chunks.push(bytes);
    this.waiting?.();
  }

  /** @internal The exit ended the stream (DONE: the server closed it; anything else: an error). */
  pushEnd(reason: number): void {
    if (reason === EndReason.DONE) this.remoteDone = true;
    else this.ending ??= new StreamError(reason, `The stream ended: ${END_REASON_TEXT[reason] ?? `reason ${reason}`}.`);
    this.waiting?.();
    this.room?.();
    this.settle();
  }

  /** @internal The circuit failed under the stream. */
  fail(error: StreamError): void {
    this.ending ??= error;
    this.waiting?.();
    this.room?.();
    this.settle();
  }

  /** @internal A SENDME, or circuit room: the writer may go on. */
  wake(): void {
    this.room?.();
  }
}

export class StreamMux {
  private readonly streams = new Map<number, ClientStream>();
  private nextId = 1;
  private drainsOut = 0;
  private inFlight = 0;
  private readonly queue: (() => void)[] = [];
  private failure: StreamError | null = null;
  private readonly sendWindow = new SendWindow(CIRCUIT_WINDOW_BYTES);
  /** Backward stream cells are handed on in their order (they may come back on answers in another). */
  private nextOrder = 1;
  private readonly early = new Map<number, RelayCell>();
  private readonly receiveWindow = new ReceiveWindow(CIRCUIT_WINDOW_BYTES, CIRCUIT_SENDME_BYTES);
  private readonly drains: number;
  private readonly maxInFlight: number;
  readonly circuit: Circuit;

  constructor(circuit: Circuit, options: StreamMuxOptions = {}) {
    this.circuit = circuit;
    this.drains = options.drains ?? 4;
    this.maxInFlight = options.maxInFlight ?? 24;
  }

  /** Streams open now. */
  get size(): number {
    return this.streams.size;
  }

  /** Opens a stream to `host:port`, resolved and connected by the exit; throws StreamError when it refuses. */
  async open(host: string, port: number): Promise<ClientStream> {
    if (this.failure) throw this.failure;
    const id = this.allocate();
    const stream = new ClientStream(id, this);
    this.streams.set(id, stream);
    let answer: RelayCell;
    try {
      answer = await this.exchange(RelayCommand.BEGIN, encodeBegin({ streamId: id, host, port }), false);
    } catch (error) {
      this.streams.delete(id);
      throw error;
    }
    const { rest } = answer.command === RelayCommand.CONNECTED || answer.command === RelayCommand.END ? splitOrder(answer.data) : { rest: answer.data };
    if (answer.command === RelayCommand.CONNECTED && decodeStreamId(rest) === id) {
      this.keepDraining();
      return stream;
    }
    this.streams.delete(id);
    if (answer.command === RelayCommand.END) {
      const { reason } = decodeEnd(rest);
      throw new StreamError(reason, `The exit refused the stream: ${END_REASON_TEXT[reason] ?? `reason ${reason}`}.`);
    }
    throw new StreamError(EndReason.TORPROTOCOL, "The exit answered BEGIN with neither CONNECTED nor END.");
  }

  /** @internal Bytes this circuit may still send forward. */
  get sendRoom(): number {
    return this.sendWindow.available;
  }

  /** @internal */
  spend(bytes: number): void {
    this.sendWindow.spend(bytes);
  }

  /** @internal The application read `bytes` of `stream`: SENDMEs go back as increments fill. */
  passedOn(stream: ClientStream, bytes: number): void {
    for (let owed = stream.receive.passed(bytes); owed > 0; owed--) void this.exchange(RelayCommand.SENDME, encodeSendme({ streamId: stream.id, increment: STREAM_SENDME_BYTES })).catch(() => {});
    for (let owed = this.receiveWindow.passed(bytes); owed > 0; owed--) void this.exchange(RelayCommand.SENDME, encodeSendme({ streamId: 0, increment: CIRCUIT_SENDME_BYTES })).catch(() => {});
  }

  /** @internal */
  forget(stream: ClientStream): void {
    this.streams.delete(stream.id);
  }

  /** @internal One cell to the exit, at most `maxInFlight` at once; its answer is dispatched. */
  async exchange(command: RelayCommand, data: Bytes | readonly Bytes[], dispatch = true): Promise<RelayCell> {
    if (this.failure) throw this.failure;
    if (this.inFlight >= this.maxInFlight) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.inFlight++;
    try {
      let answer: RelayCell;
      for (let attempt = 0; ; attempt++) {
        try {
          answer = await this.circuit.toExit(command, data);
          break;
        } catch (error) {
          // The entry refused the cell for now (busy, rate-limited): it never entered the circuit,
          // so it may go again after a pause; anything else ends the circuit's streams.
          if (!(error instanceof LinkError) || (error.status !== 503 && error.status !== 429) || attempt >= 5) throw error;
          await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
        }
      }
      if (dispatch) this.dispatch(answer);
      return answer;
    } catch (error) {
      this.fail(error);
      throw this.failure ?? error;
    } finally {
      this.inFlight--;
      this.queue.shift()?.();
    }
  }

  private allocate(): number {
    for (let tries = 0; tries <= MAX_STREAM_ID; tries++) {
      const id = this.nextId;
      this.nextId = this.nextId === MAX_STREAM_ID ? 1 : this.nextId + 1;
      if (!this.streams.has(id)) return id;
    }
    throw new StreamError(EndReason.RESOURCELIMIT, "Every stream id of this circuit is in use.");
  }

  /** Keeps `drains` DRAINs waiting at the exit while a stream is open. */
  private keepDraining(): void {
    while (!this.failure && this.streams.size > 0 && this.drainsOut < this.drains) {
      this.drainsOut++;
      void this.exchange(RelayCommand.DRAIN, new Uint8Array(0))
        .catch(() => {})
        .finally(() => {
          this.drainsOut--;
          this.keepDraining();
        });
    }
  }

  /** A backward cell: in its order, to its stream. */
  private dispatch(cell: RelayCell): void {
    try {
      if (cell.command === RelayCommand.IDLE) return;
      const { order, rest } = splitOrder(cell.data);
      if (order < this.nextOrder || this.early.has(order) || this.early.size >= this.maxInFlight) {
        throw new ProtocolError("malformed_message", "A backward stream cell came out of any possible order.");
      }
      this.early.set(order, { ...cell, data: rest });
      for (let next = this.early.get(this.nextOrder); next; next = this.early.get(this.nextOrder)) {
        this.early.delete(this.nextOrder++);
        this.handOn(next);
      }
    } catch (error) {
      // The exit broke flow control or sent garbage: the circuit cannot be trusted with the streams.
      this.fail(error);
      void this.circuit.destroy().catch(() => {});
    }
  }

  private handOn(cell: RelayCell): void {
    {
      switch (cell.command) {
        case RelayCommand.DATA: {
          const { streamId, bytes } = decodeData(cell.data);
          this.receiveWindow.received(bytes.length);
          const stream = this.streams.get(streamId);
          // Bytes for a stream this side has closed are dropped, but still count as read.
          if (stream) stream.pushData(bytes.slice());
          else this.passedOnClosed(bytes.length);
          return;
        }
        case RelayCommand.END: {
          const { streamId, reason } = decodeEnd(cell.data);
          const stream = this.streams.get(streamId);
          if (stream) {
            this.streams.delete(streamId);
            stream.pushEnd(reason);
          }
          return;
        }
        case RelayCommand.SENDME: {
          const { streamId, increment } = decodeSendme(cell.data);
          if (streamId === 0) {
            this.sendWindow.grant(increment);
            for (const stream of this.streams.values()) stream.wake();
          } else {
            const stream = this.streams.get(streamId);
            stream?.send.grant(increment);
            stream?.wake();
          }
          return;
        }
        default:
          throw new ProtocolError("malformed_message", "The exit answered a stream cell with an unexpected command.");
      }
    }
  }

  private passedOnClosed(bytes: number): void {
    for (let owed = this.receiveWindow.passed(bytes); owed > 0; owed--) void this.exchange(RelayCommand.SENDME, encodeSendme({ streamId: 0, increment: CIRCUIT_SENDME_BYTES })).catch(() => {});
  }

  private fail(error: unknown): void {
    if (this.failure) return;
    const message = error instanceof Error ? error.message : "The circuit failed.";
    this.failure = error instanceof StreamError ? error : new StreamError(0, `The circuit carrying the stream failed: ${message}`);
    if (isProtocolError(error)) Object.assign(this.failure, { code: error.code });
    for (const stream of this.streams.values()) stream.fail(this.failure);
    this.streams.clear();
  }
}
