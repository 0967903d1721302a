// Every failure the protocol can name. Workers map `code` to the JSON error body and `status` to HTTP.

export type ProtocolErrorCode =
  | "malformed_cell"
  | "unknown_command"
  | "unknown_link"
  | "handshake_failed"
  | "wrong_relay"
  | "integrity_failed"
  | "replayed_cell"
  | "malformed_message"
  | "message_too_large"
  | "bad_signature"
  | "stale_consensus"
  | "not_enough_relays"
  | "circuit_destroyed"
  | "extend_failed";

export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  readonly code: ProtocolErrorCode;
  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export const isProtocolError = (error: unknown): error is ProtocolError => error instanceof ProtocolError;
