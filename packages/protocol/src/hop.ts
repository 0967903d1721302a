// What one relay does to a relay cell: peel its forward layer and see whether the cell is its own,
// or add its backward layer. Pure: the Relay Durable Object supplies the keys from its key table.

import type { Bytes } from "./bytes.ts";
import type { CircuitKeys } from "./circuit-keys.ts";
import { applyLayer, nextNonce } from "./layer.ts";
import { type RelayCell, type SealableRelayCell, openRelayCell, sealRelayCell } from "./relay-cell.ts";

export type ForwardResult =
  | { kind: "recognized"; cell: RelayCell }
  | { kind: "forward"; nonce: Bytes; payload: Bytes };

/** Removes this hop's forward layer; the cell is either addressed to this hop or goes on to the next. */
export async function peelForward(keys: CircuitKeys, nonce: Bytes, payload: Bytes): Promise<ForwardResult> {
  const plaintext = await applyLayer(keys.forward.cipher, nonce, payload);
  const cell = await openRelayCell(keys.forward.mac, nonce, plaintext);
  if (cell) return { kind: "recognized", cell };
  return { kind: "forward", nonce: await nextNonce(keys.nonce, nonce), payload: plaintext };
}

/** Adds this hop's backward layer to a cell coming back from further along the circuit. */
export const addBackwardLayer = (keys: CircuitKeys, nonce: Bytes, payload: Bytes): Promise<Bytes> =>
  applyLayer(keys.backward.cipher, nonce, payload);

/** A backward cell that starts at this hop (an answer to a cell it recognized). */
export async function originateBackward(keys: CircuitKeys, nonce: Bytes, cell: SealableRelayCell): Promise<Bytes> {
  const plaintext = await sealRelayCell(keys.backward.mac, nonce, cell);
  return applyLayer(keys.backward.cipher, nonce, plaintext);
}
