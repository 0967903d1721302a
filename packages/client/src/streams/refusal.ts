// What a stream that could not be opened means to the local program that asked for it: an HTTP
// status and a JSON error for CONNECT, a reply code for SOCKS5 (RFC 1928 section 6), from the
// exit's END reason (tor-spec 6.3), as Tor's SocksPort maps them.

import { EndReason, END_REASON_TEXT, StreamError } from "@shallot/protocol";
import { describeFailure, oneLine } from "../errors.ts";

export const SocksReply = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const satisfies Record<string, number>;

/** The HTTP answer to CONNECT, per END reason; other reasons are 502 stream_failed. */
const CONNECT_REFUSALS: Partial<Record<number, { status: number; error: string }>> = {
  [EndReason.EXITPOLICY]: { status: 403, error: "destination_refused" },
  [EndReason.RESOLVEFAILED]: { status: 502, error: "resolve_failed" },
  [EndReason.CONNECTREFUSED]: { status: 502, error: "connection_refused" },
  [EndReason.CONNRESET]: { status: 502, error: "connection_reset" },
  [EndReason.NOROUTE]: { status: 502, error: "no_route" },
  [EndReason.TIMEOUT]: { status: 504, error: "destination_timeout" },
  [EndReason.RESOURCELIMIT]: { status: 503, error: "exit_busy" },
  [EndReason.HIBERNATING]: { status: 503, error: "exit_busy" },
};

/** tor's stream_end_reason_to_socks5_response, for the reasons Shallot's exits send. */
const SOCKS_REPLIES: Partial<Record<number, number>> = {
  [EndReason.EXITPOLICY]: SocksReply.NOT_ALLOWED,
  [EndReason.RESOLVEFAILED]: SocksReply.HOST_UNREACHABLE,
  [EndReason.NOROUTE]: SocksReply.HOST_UNREACHABLE,
  [EndReason.CONNECTREFUSED]: SocksReply.CONNECTION_REFUSED,
  [EndReason.CONNRESET]: SocksReply.CONNECTION_REFUSED,
  [EndReason.TIMEOUT]: SocksReply.TTL_EXPIRED,
};

export interface Refusal {
  status: number;
  error: string;
  message: string;
  socks: number;
}

/** Why `openStream` failed, for both kinds of local client. */
export function describeRefusal(error: unknown, target: string): Refusal {
  if (error instanceof StreamError && error.reason !== 0) {
    const connect = CONNECT_REFUSALS[error.reason] ?? { status: 502, error: "stream_failed" };
    const text = END_REASON_TEXT[error.reason] ?? `END reason ${error.reason}`;
    return { ...connect, message: `The exit did not open a connection to ${target}: ${text}.`, socks: SOCKS_REPLIES[error.reason] ?? SocksReply.GENERAL_FAILURE };
  }
  if (error instanceof StreamError) return { status: 502, error: "circuit_failed", message: oneLine(error.message), socks: SocksReply.GENERAL_FAILURE };
  // No circuit: the directory, the consensus, every build failed.
  const failure = describeFailure(error);
  const status = failure.status >= 500 ? failure.status : 502;
  return { status, error: failure.code, message: failure.message, socks: SocksReply.GENERAL_FAILURE };
}
