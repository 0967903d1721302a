// The onion proxy's side of a circuit: builds it telescopically (CREATE2 to the entry, then
// EXTEND2 through the hops already built), layers every cell, and peels the answers.
// No I/O of its own: the caller passes a CellTransport and a clock.

import { type Bytes, constantTimeEqual, fromBase64Url, fromHex, randomBytes } from "./bytes.ts";
import { CellCommand, DestroyReason, LINK_ID_BYTES, decodeCell, encodeCell } from "./cell.ts";
import { type CellCrypto, type CircuitKeys, importCircuitKeys } from "./circuit-keys.ts";
import type { Descriptor } from "./descriptor.ts";
import { ProtocolError } from "./errors.ts";
import { encodeExtend2 } from "./extend.ts";
import { type ExitError, type HttpRequestMessage, type HttpResponseMessage, decodeExitError, decodeHttpResponse, encodeHttpRequestParts } from "./http-message.ts";
import { NONCE_BYTES, applyLayer, nextNonce } from "./layer.ts";
import { ntorClientFinish, ntorClientStart } from "./ntor.ts";
import { type RelayCell, RelayCommand, openRelayCell, sealRelayCell } from "./relay-cell.ts";

export interface CellTransport {
  /** POSTs one link cell to the relay at `address` (neighbour: a client) and returns the answer cell. */
  send(address: string, cell: Bytes): Promise<Bytes>;
}

export interface CircuitHop {
  relay: Descriptor;
  keys: CircuitKeys;
  /** Milliseconds the handshake with this hop took, as seen by the client. */
  handshakeMs: number;
}

export interface BuildOptions {
  /** Milliseconds; injected so the protocol never reads a clock itself. */
  clock: () => number;
  onHop?: (hop: CircuitHop, index: number) => void;
  /** The primitives the hops' keys are used with (WebCrypto when absent). */
  cellCrypto?: CellCrypto;
}

export type ExitResult = { ok: true; response: HttpResponseMessage } | { ok: false; error: ExitError };

export class Circuit {
  private seq = 0;
  private destroyed = false;
  private readonly transport: CellTransport;
  readonly linkId: Bytes;
  readonly hops: CircuitHop[];

  private constructor(transport: CellTransport, linkId: Bytes, hops: CircuitHop[]) {
    this.transport = transport;
    this.linkId = linkId;
    this.hops = hops;
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  get entry(): Descriptor {
    return this.hops[0]!.relay;
  }

  /** Builds a circuit through `path` (entry first). On any failure the partial circuit is destroyed. */
  static async build(path: readonly Descriptor[], transport: CellTransport, options: BuildOptions): Promise<Circuit> {
    if (path.length < 1) throw new ProtocolError("not_enough_relays", "A circuit needs at least one relay.");
    const linkId = randomBytes(LINK_ID_BYTES);
    const entry = path[0]!;
    const started = options.clock();
    const { state, onionskin } = await ntorClientStart(fromHex(entry.id), fromBase64Url(entry.onionKey));
    const answer = decodeCell(await transport.send(entry.address, encodeCell({ command: CellCommand.CREATE2, linkId, onionskin })));
    let keys: CircuitKeys;
    try {
      if (answer.command !== CellCommand.CREATED2) throw new ProtocolError("handshake_failed", "The entry did not answer CREATE2 with CREATED2.");
      keys = await importCircuitKeys(await ntorClientFinish(state, answer.reply), options.cellCrypto);
    } catch (error) {
      // The entry may hold a key row for this link even though we refuse its answer: erase it.
      await transport.send(entry.address, encodeCell({ command: CellCommand.DESTROY, linkId, reason: DestroyReason.PROTOCOL })).catch(() => {});
      throw error;
    }
    const first: CircuitHop = { relay: entry, keys, handshakeMs: options.clock() - started };
    const circuit = new Circuit(transport, linkId, [first]);
    options.onHop?.(first, 0);
    try {
      for (let i = 1; i < path.length; i++) {
        const hop = await circuit.extend(path[i]!, options);
        options.onHop?.(hop, i);
      }
    } catch (error) {
      await circuit.destroy(DestroyReason.PROTOCOL).catch(() => {});
      throw error;
    }
    return circuit;
  }

  private async extend(relay: Descriptor, { clock, cellCrypto }: BuildOptions): Promise<CircuitHop> {
    const started = clock();
    const { state, onionskin } = await ntorClientStart(fromHex(relay.id), fromBase64Url(relay.onionKey));
    const answer = await this.exchange(this.hops.length - 1, RelayCommand.EXTEND2, encodeExtend2({ address: relay.address, onionskin }));
    if (answer.command === RelayCommand.ERROR) {
      const error = decodeExitError(answer.data);
      throw new ProtocolError("extend_failed", error.message);
    }
    if (answer.command !== RelayCommand.EXTENDED2) throw new ProtocolError("extend_failed", "The hop did not answer EXTEND2 with EXTENDED2.");
    const hop: CircuitHop = { relay, keys: await importCircuitKeys(await ntorClientFinish(state, answer.data), cellCrypto), handshakeMs: clock() - started };
    this.hops.push(hop);
    return hop;
  }

  /** One relay cell to the last hop (the exit) and the relay cell that answers it: how streams travel. */
  toExit(command: RelayCommand, data: Bytes | readonly Bytes[]): Promise<RelayCell> {
    return this.exchange(this.hops.length - 1, command, data);
  }

  /** Sends the HTTP request to the last hop, which performs it as the exit. */
  async request(request: HttpRequestMessage): Promise<ExitResult> {
    const answer = await this.exchange(this.hops.length - 1, RelayCommand.REQUEST, encodeHttpRequestParts(request));
    if (answer.command === RelayCommand.RESPONSE) return { ok: true, response: decodeHttpResponse(answer.data) };
    if (answer.command === RelayCommand.ERROR) return { ok: false, error: decodeExitError(answer.data) };
    throw new ProtocolError("malformed_message", "The exit answered with an unexpected relay command.");
  }

  /** The seed's teardown "mark": every hop erases its key and transfer rows for this circuit. */
  async destroy(reason: number = DestroyReason.FINISHED): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.transport.send(this.entry.address, encodeCell({ command: CellCommand.DESTROY, linkId: this.linkId, reason }));
  }

  /** One relay cell to hop `target` and the relay cell that answers it. */
  private async exchange(target: number, command: RelayCommand, data: Bytes | readonly Bytes[]): Promise<RelayCell> {
    if (this.destroyed) throw new ProtocolError("circuit_destroyed", "The circuit has been destroyed.");
    const seq = ++this.seq;
    const nonces = [randomBytes(NONCE_BYTES)];
    for (let i = 1; i <= target; i++) nonces.push(await nextNonce(this.hops[i - 1]!.keys.nonce, nonces[i - 1]!));

    let payload: Bytes | null = await sealRelayCell(this.hops[target]!.keys.forward.mac, nonces[target]!, { command, seq, data });
    data = null!;
    for (let i = target; i >= 0; i--) payload = await applyLayer(this.hops[i]!.keys.forward.cipher, nonces[i]!, payload);

    // Nothing of the layered cell is kept while the answer is awaited: it can be megabytes.
    // EXTEND2 goes in a RELAY_EARLY cell, the only kind a relay extends on (tor-spec 5.6).
    const cellCommand = command === RelayCommand.EXTEND2 ? CellCommand.RELAY_EARLY : CellCommand.RELAY;
    const sending = this.transport.send(this.entry.address, encodeCell({ command: cellCommand, linkId: this.linkId, nonce: nonces[0]!, payload }));
    payload = null;
    const answer = decodeCell(await sending);
    if (answer.command === CellCommand.DESTROY) {
      this.destroyed = true;
      throw new ProtocolError("circuit_destroyed", `A hop destroyed the circuit (reason ${answer.reason}).`);
    }
    if (answer.command !== CellCommand.RELAY || !constantTimeEqual(answer.linkId, this.linkId) || !constantTimeEqual(answer.nonce, nonces[0]!)) {
      await this.destroy(DestroyReason.PROTOCOL).catch(() => {});
      throw new ProtocolError("malformed_cell", "The answer to a RELAY cell must be RELAY (same link and nonce) or DESTROY.");
    }

    let backward = answer.payload;
    for (let i = 0; i <= target; i++) {
      backward = await applyLayer(this.hops[i]!.keys.backward.cipher, nonces[i]!, backward);
      const cell = await openRelayCell(this.hops[i]!.keys.backward.mac, nonces[i]!, backward).catch(async (error: unknown) => {
        // Sealed by a hop yet unparseable: that hop broke the protocol.
        await this.destroy(DestroyReason.PROTOCOL).catch(() => {});
        throw error;
      });
      if (cell) {
        // Only the hop the cell was sent to answers it; another hop recognizing one is forging it.
        if (cell.seq !== seq || i !== target) break;
        return cell;
      }
    }
    // Nobody on the circuit sealed this answer: it was tampered with on the way back.
    await this.destroy(DestroyReason.INTEGRITY).catch(() => {});
    throw new ProtocolError("integrity_failed", "The answer failed its integrity check; the circuit was torn down.");
  }
}
