// A relay's circuit state machine (seed sections 3 and "Message Routing"): it answers one link cell
// with another, using a key table and a transfer table it is given. It never touches storage or the
// network itself: the Relay Durable Object passes tables backed by SQL, a transport and an exit.

import { type Bytes, fromHex, randomBytes, toHex } from "./bytes.ts";
import { type Cell, CellCommand, DestroyReason, LINK_ID_BYTES, MAX_RELAY_EARLY, decodeCell, encodeCell } from "./cell.ts";
import { type CircuitKeys, importCircuitKeys } from "./circuit-keys.ts";
import type { ExitResult } from "./client.ts";
import { ProtocolError, isProtocolError } from "./errors.ts";
import { isCanonicalRelayAddress } from "./descriptor.ts";
import { decodeExtend2 } from "./extend.ts";
import { type HttpRequestMessage, decodeHttpRequest, encodeExitError, encodeHttpResponseParts } from "./http-message.ts";
import { addBackwardLayer, originateBackward, peelForward } from "./hop.ts";
import { type NtorRelayIdentity, ntorServer } from "./ntor.ts";
import { MAX_RELAY_DATA, type RelayCell, RelayCommand, type SealableRelayCell } from "./relay-cell.ts";

/** The neighbour name of a sender that is not a relay (the onion proxy). */
export const CLIENT_NEIGHBOUR = "client";

/** Key table row: (link id, neighbour) on the client side → the keys this hop shares with the client. */
export interface KeyRow {
  linkId: string;
  neighbour: string;
  keyMaterial: Bytes;
}

/** Transfer table row: (link id, neighbour) towards the client ↔ (link id, neighbour) towards the exit. */
export interface TransferRow {
  inLinkId: string;
  inNeighbour: string;
  outLinkId: string;
  outNeighbour: string;
  outAddress: string;
}

export interface RelayTables {
  getKeys(linkId: string, neighbour: string): KeyRow | null;
  /** Records that the circuit carried a cell now (idle circuits expire). */
  touch(linkId: string, neighbour: string, now: number): void;
  insertKeys(row: KeyRow, now: number): void;
  /** Atomically checks `seq` against the circuit's replay window and records it; false for a replay. */
  acceptSequence(linkId: string, neighbour: string, seq: number, now: number): boolean;
  getTransfer(inLinkId: string, inNeighbour: string): TransferRow | null;
  /** The transfer row whose exit-side end is (outLinkId, outNeighbour): the way back. */
  getTransferBack(outLinkId: string, outNeighbour: string): TransferRow | null;
  insertTransfer(row: TransferRow, now: number): void;
  /** Erases the circuit's key row and transfer row (client-side end given). */
  deleteCircuit(linkId: string, neighbour: string): void;
}

export interface RelayLink {
  /** POSTs a link cell to the relay at `address`, naming this relay as the neighbour. */
  send(address: string, cell: Bytes): Promise<Bytes>;
}

export interface RelayEngineOptions {
  identity: NtorRelayIdentity & { id: string };
  tables: RelayTables;
  link: RelayLink;
  exit: (request: HttpRequestMessage) => Promise<ExitResult>;
  /** The exit's streams (BEGIN, DATA, END, SENDME, DRAIN on circuits that end here); none: refused. */
  streams?: {
    handle(circuit: string, cell: RelayCell): Promise<Omit<SealableRelayCell, "seq">>;
    close(circuit: string): void;
  };
  /** Whether this relay may open a link to `address` on a client's EXTEND2 (default: any). */
  mayExtendTo?: (address: string) => boolean;
  clock: () => number;
}

/** Largest number of imported circuit keys kept in memory; the key table is the source of truth. */
const KEY_CACHE_LIMIT = 1024;
/**
 * Circuits whose RELAY_EARLY count is kept. Counts go with their circuits; one whose rows were
 * erased another way (idle expiry of a half-built circuit) is let go here once this many are kept.
 */
const EARLY_MEMORY = 65_536;
/** Onionskins remembered to refuse a second use (the newest; an old one past this is let go). */
const ONIONSKIN_MEMORY = 8192;

export class RelayEngine {
  private readonly keyCache = new Map<string, CircuitKeys>();
  /** RELAY_EARLY cells taken per circuit (client-side end); dropped with the circuit. */
  private readonly early = new Map<string, number>();
  /** Recent onionskins: one replayed costs the sender nothing and this relay two X25519 operations. */
  private readonly onionskins = new Set<string>();

  private readonly options: RelayEngineOptions;

  constructor(options: RelayEngineOptions) {
    this.options = options;
  }

  /** Answers one link cell from `neighbour`. Throws ProtocolError for cells that do not parse or name no circuit. */
  async handle(bytes: Bytes, neighbour: string): Promise<Bytes> {
    const cell = decodeCell(bytes);
    switch (cell.command) {
      case CellCommand.CREATE2:
        return this.create(cell, neighbour);
      case CellCommand.RELAY:
      case CellCommand.RELAY_EARLY: {
        // relay() keeps what it needs; a cell can be megabytes, so this frame lets go of it while
        // the answer is awaited (see docs/protocol.md, memory).
        const answering = this.relay(cell, neighbour);
        bytes = null!;
        return answering;
      }
      case CellCommand.DESTROY:
        // The reason received stays here: passing it on would give the sender a channel to later hops.
        await this.destroy(toHex(cell.linkId), neighbour, DestroyReason.DESTROYED);
        return encodeCell({ command: CellCommand.DESTROY, linkId: cell.linkId, reason: DestroyReason.NONE });
      case CellCommand.CREATED2:
        throw new ProtocolError("unknown_command", "CREATED2 is only ever an answer.");
    }
  }

  /** Tears down the circuit whose client-side or exit-side end is (linkId, neighbour), forwarding DESTROY onwards. */
  async destroy(linkId: string, neighbour: string, reason: number = DestroyReason.REQUESTED): Promise<void> {
    const owed = this.forgetCircuit(linkId, neighbour, reason);
    if (owed) {
      await this.options.link.send(owed.address, owed.cell).catch(() => {
        // The next hop is gone or unreachable: its idle expiry erases its rows.
      });
    }
  }

  /**
   * Erases the circuit's rows at once and returns the DESTROY still owed to the next hop, if any,
   * for the caller to send when and how it likes (a relay expiring many circuits sends them in
   * the background, a few at a time). A DESTROY from further along the circuit owes nothing: the
   * client learns on its next cell.
   */
  forgetCircuit(linkId: string, neighbour: string, reason: number): { address: string; cell: Bytes } | null {
    const { tables } = this.options;
    if (tables.getKeys(linkId, neighbour)) {
      const transfer = tables.getTransfer(linkId, neighbour);
      this.forget(linkId, neighbour);
      return transfer ? { address: transfer.outAddress, cell: encodeCell({ command: CellCommand.DESTROY, linkId: fromHex(transfer.outLinkId), reason }) } : null;
    }
    const back = tables.getTransferBack(linkId, neighbour);
    if (back) this.forget(back.inLinkId, back.inNeighbour);
    return null;
  }

  private forget(linkId: string, neighbour: string): void {
    this.options.tables.deleteCircuit(linkId, neighbour);
    this.keyCache.delete(`${linkId}/${neighbour}`);
    this.early.delete(`${linkId}/${neighbour}`);
    // Its streams end with it: sockets closed, held DRAINs answered.
    this.options.streams?.close(`${linkId}/${neighbour}`);
  }

  private async create(cell: Extract<Cell, { command: 1 }>, neighbour: string): Promise<Bytes> {
    const { tables, identity, clock } = this.options;
    const linkId = toHex(cell.linkId);
    if (tables.getKeys(linkId, neighbour)) throw new ProtocolError("malformed_cell", "That link id is already in use.");
    // An honest client makes a fresh key X for every CREATE2. Refusing a second use stops a flood
    // from replaying one captured onionskin; it does not make a flood costly (any 32 bytes are an X).
    const onionskin = toHex(cell.onionskin);
    if (this.onionskins.has(onionskin)) throw new ProtocolError("handshake_failed", "That onionskin was used before: every CREATE2 needs a fresh key.");
    this.onionskins.add(onionskin);
    if (this.onionskins.size > ONIONSKIN_MEMORY) this.onionskins.delete(this.onionskins.values().next().value!);
    const { reply, keyMaterial } = await ntorServer(cell.onionskin, identity);
    // Checked again: another CREATE2 on the same link may have won while the handshake ran.
    if (tables.getKeys(linkId, neighbour)) throw new ProtocolError("malformed_cell", "That link id is already in use.");
    tables.insertKeys({ linkId, neighbour, keyMaterial }, clock());
    return encodeCell({ command: CellCommand.CREATED2, linkId: cell.linkId, reply });
  }

  private async keysFor(row: KeyRow): Promise<CircuitKeys> {
    const cacheKey = `${row.linkId}/${row.neighbour}`;
    let keys = this.keyCache.get(cacheKey);
    if (!keys) {
      keys = await importCircuitKeys(row.keyMaterial);
      if (this.keyCache.size >= KEY_CACHE_LIMIT) this.keyCache.delete(this.keyCache.keys().next().value!);
      this.keyCache.set(cacheKey, keys);
    }
    return keys;
  }

  private async relay(received: Extract<Cell, { command: 3 | 9 }>, neighbour: string): Promise<Bytes> {
    const { tables, clock } = this.options;
    const early = received.command === CellCommand.RELAY_EARLY;
    // Only the link id and the nonce outlive the peeling; the payload is let go as soon as it is peeled.
    const cell = { linkId: received.linkId.slice(), nonce: received.nonce.slice() };
    let forward: Bytes | null = received.payload;
    received = null!;
    const linkId = toHex(cell.linkId);
    const row = tables.getKeys(linkId, neighbour);
    if (!row) throw new ProtocolError("unknown_link", "No circuit has that link id on this link.");
    tables.touch(linkId, neighbour, clock());
    const teardown = async (reason: number) => {
      await this.destroy(linkId, neighbour, reason);
      return encodeCell({ command: CellCommand.DESTROY, linkId: cell.linkId, reason });
    };
    if (early) {
      const taken = (this.early.get(`${linkId}/${neighbour}`) ?? 0) + 1;
      // Past the allowance the client is building a circuit longer than any honest one: tear it down.
      if (taken > MAX_RELAY_EARLY) return teardown(DestroyReason.PROTOCOL);
      this.early.set(`${linkId}/${neighbour}`, taken);
      if (this.early.size > EARLY_MEMORY) this.early.delete(this.early.keys().next().value!);
    }
    const keys = await this.keysFor(row);
    let peeled: Awaited<ReturnType<typeof peelForward>>;
    try {
      const peeling = peelForward(keys, cell.nonce, forward);
      forward = null;
      peeled = await peeling;
    } catch (error) {
      // A cell that verified but does not parse (unknown relay command, bad length) breaks the protocol.
      if (isProtocolError(error)) return teardown(DestroyReason.PROTOCOL);
      throw error;
    }

    if (peeled.kind === "forward") {
      const transfer = tables.getTransfer(linkId, neighbour);
      // Unrecognized at the end of the circuit: the cell was altered on the way. Tear down.
      if (!transfer) return teardown(DestroyReason.INTEGRITY);
      let answer: Cell;
      try {
        // Passed on as it came: the next relay counts the RELAY_EARLY cells too.
        let next: Bytes | null = encodeCell({ command: early ? CellCommand.RELAY_EARLY : CellCommand.RELAY, linkId: fromHex(transfer.outLinkId), nonce: peeled.nonce, payload: peeled.payload });
        // Nothing of the forward cell is needed once it is sent: let it go while the answer is awaited.
        peeled = null as unknown as typeof peeled;
        const sending = this.options.link.send(transfer.outAddress, next);
        next = null;
        answer = decodeCell(await sending);
      } catch {
        return teardown(DestroyReason.DESTROYED);
      }
      if (answer.command === CellCommand.DESTROY && toHex(answer.linkId) === transfer.outLinkId) {
        this.forget(linkId, neighbour);
        return encodeCell({ command: CellCommand.DESTROY, linkId: cell.linkId, reason: DestroyReason.DESTROYED });
      }
      // Anything but the answer on the same link: tear down both ways.
      if (answer.command !== CellCommand.RELAY || toHex(answer.linkId) !== transfer.outLinkId) return teardown(DestroyReason.PROTOCOL);
      const payload = await addBackwardLayer(keys, cell.nonce, answer.payload);
      return encodeCell({ command: CellCommand.RELAY, linkId: cell.linkId, nonce: cell.nonce, payload });
    }

    if (!tables.acceptSequence(linkId, neighbour, peeled.cell.seq, clock())) return teardown(DestroyReason.PROTOCOL);
    const reply = await this.recognized(peeled.cell, linkId, neighbour, early);
    if (!reply) return teardown(DestroyReason.PROTOCOL);
    const payload = await originateBackward(keys, cell.nonce, { ...reply, seq: peeled.cell.seq });
    return encodeCell({ command: CellCommand.RELAY, linkId: cell.linkId, nonce: cell.nonce, payload });
  }

  /** A relay cell addressed to this hop; null means "protocol violation, destroy". */
  private async recognized(cell: RelayCell, linkId: string, neighbour: string, early: boolean): Promise<Omit<SealableRelayCell, "seq"> | null> {
    const isLastHop = !this.options.tables.getTransfer(linkId, neighbour);
    switch (cell.command) {
      case RelayCommand.EXTEND2:
        // Only in a RELAY_EARLY cell, as in Tor: the count of those bounds the circuit's length.
        return isLastHop && early ? this.extend(cell.data, linkId, neighbour) : null;
      case RelayCommand.REQUEST:
        return isLastHop ? this.exitRequest(cell.data) : null;
      case RelayCommand.BEGIN:
      case RelayCommand.DATA:
      case RelayCommand.END:
      case RelayCommand.SENDME:
      case RelayCommand.DRAIN: {
        const { streams } = this.options;
        if (!isLastHop || !streams) return null;
        try {
          return await streams.handle(`${linkId}/${neighbour}`, cell);
        } catch (error) {
          // A stream cell that breaks the protocol (past a window, a stream id reused): tear down.
          if (isProtocolError(error)) return null;
          throw error;
        }
      }
      default:
        return null;
    }
  }

  private async extend(data: Bytes, linkId: string, neighbour: string): Promise<Omit<RelayCell, "seq">> {
    const { tables, clock, identity } = this.options;
    const fail = (message: string) => ({ command: RelayCommand.ERROR, data: encodeExitError({ error: "extend_failed", message, status: 502 }) });
    let extend: ReturnType<typeof decodeExtend2>;
    try {
      extend = decodeExtend2(data);
    } catch (error) {
      return fail(isProtocolError(error) ? error.message : "EXTEND2 is malformed.");
    }
    const nextId = toHex(extend.relayId);
    if (nextId === identity.id) return fail("A circuit may not pass through the same relay twice in a row.");
    // Nor go straight back to the relay it came from (A, B, A, …): a loop only multiplies work.
    if (nextId === neighbour) return fail("A circuit may not go back to the relay it came from.");
    // Only a relay's own cell endpoint: a crafted address could reach other routes of a relay's worker.
    if (!isCanonicalRelayAddress(extend.address, nextId)) return fail("The address is not the canonical address <base>/relays/<id> of the relay named.");
    // Without this a client could make relays POST to addresses of their own private network.
    if (this.options.mayExtendTo && !this.options.mayExtendTo(extend.address)) return fail("This relay's policy refuses to extend to that address.");
    const outLink = randomBytes(LINK_ID_BYTES);
    let answer: Cell;
    try {
      answer = decodeCell(await this.options.link.send(extend.address, encodeCell({ command: CellCommand.CREATE2, linkId: outLink, onionskin: extend.onionskin })));
    } catch {
      return fail("The next relay could not be reached or refused the handshake.");
    }
    if (answer.command !== CellCommand.CREATED2) return fail("The next relay did not answer CREATE2 with CREATED2.");
    // While the next relay answered, this circuit may have been destroyed or extended by another
    // cell: then the new link must not be kept, here or there.
    if (!tables.getKeys(linkId, neighbour) || tables.getTransfer(linkId, neighbour)) {
      await this.options.link.send(extend.address, encodeCell({ command: CellCommand.DESTROY, linkId: outLink, reason: DestroyReason.PROTOCOL })).catch(() => {});
      return fail("The circuit changed while it was being extended.");
    }
    tables.insertTransfer({ inLinkId: linkId, inNeighbour: neighbour, outLinkId: toHex(outLink), outNeighbour: nextId, outAddress: extend.address }, clock());
    return { command: RelayCommand.EXTENDED2, data: answer.reply };
  }

  private async exitRequest(data: Bytes): Promise<Omit<SealableRelayCell, "seq">> {
    let result: ExitResult;
    try {
      result = await this.options.exit(decodeHttpRequest(data));
    } catch (error) {
      const message = isProtocolError(error) ? error.message : "The exit could not perform the request.";
      result = { ok: false, error: { error: isProtocolError(error) ? error.code : "exit_failed", message, status: isProtocolError(error) ? 400 : 502 } };
    }
    if (!result.ok) return { command: RelayCommand.ERROR, data: encodeExitError(result.error) };
    const encoded = encodeHttpResponseParts(result.response);
    // Head and body must fit the largest cell; past it the client gets a reason, not a torn circuit.
    if (encoded[0].length + encoded[1].length > MAX_RELAY_DATA) return { command: RelayCommand.ERROR, data: encodeExitError({ error: "response_too_large", message: "The destination's response does not fit the largest cell.", status: 502 }) };
    return { command: RelayCommand.RESPONSE, data: encoded };
  }
}
