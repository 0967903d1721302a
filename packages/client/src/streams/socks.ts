// SOCKS5 (RFC 1928) with username/password authentication (RFC 1929), as a Tor SocksPort speaks
// it: CONNECT only, addresses as a host name (resolved by the exit: "socks5h"), IPv4 or IPv6. Any
// user name and password is accepted; they only choose the circuit (IsolateSOCKSAuth).

import { toStreamHost } from "./host.ts";
import { SocksReply } from "./refusal.ts";

export const SOCKS_VERSION = 5;
const AUTH_VERSION = 1;
export const Method = { NO_AUTH: 0x00, USER_PASS: 0x02, NONE_ACCEPTABLE: 0xff } as const;
export const Command = { CONNECT: 0x01, BIND: 0x02, UDP_ASSOCIATE: 0x03 } as const;
export const AddressType = { IPV4: 0x01, DOMAIN: 0x03, IPV6: 0x04 } as const;

/** A SOCKS5 CONNECT: the host as a stream's BEGIN takes it, and the isolation key of its credentials. */
export interface SocksRequest {
  host: string;
  port: number;
  /** Streams with another user name or password never share a circuit with these. */
  isolation: string;
}

/**
 * The handshake failed: `reply` is the SOCKS5 reply code to send before closing, or null when the
 * peer does not speak SOCKS5 (`answer`, if any, goes back instead).
 */
export class SocksFailure extends Error {
  override readonly name = "SocksFailure";
  readonly reply: number | null;
  readonly answer: Buffer | null;
  constructor(message: string, reply: number | null, answer: Buffer | null = null) {
    super(message);
    this.reply = reply;
    this.answer = answer;
  }
}

/** Reads exactly `n` bytes of what the client sent (rejects if it goes away first). */
export type TakeBytes = (n: number) => Promise<Buffer>;

/** A reply to the request (RFC 1928 section 6): the bound address is not disclosed (0.0.0.0:0, as Tor). */
export const socksReply = (code: number): Buffer => Buffer.from([SOCKS_VERSION, code, 0x00, AddressType.IPV4, 0, 0, 0, 0, 0, 0]);

/** The key of a circuit pool: the listener kind, then the credentials, unambiguously. */
export const socksIsolation = (username: string | null, password: string | null): string => JSON.stringify(["socks", username, password]);

const HTTP_ON_SOCKS = JSON.stringify({ error: "not_an_http_proxy", message: "This is a SOCKS5 port (socks5h://); use the HTTP proxy port for HTTP proxy requests." });

/** Runs the server's side of the handshake up to the request; `send` writes to the client. */
export async function negotiate(take: TakeBytes, send: (bytes: Buffer) => void): Promise<SocksRequest> {
  const [version] = await take(1);
  if (version === 4) throw new SocksFailure("SOCKS4 is not spoken here", null, Buffer.from([0x00, 0x5b, 0, 0, 0, 0, 0, 0]));
  // A browser or curl pointed at this port as an HTTP proxy (Tor answers so too).
  if (version !== undefined && /[A-Z]/.test(String.fromCharCode(version))) {
    throw new SocksFailure("an HTTP request on the SOCKS port", null, Buffer.from(`HTTP/1.0 501 Not Implemented\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(HTTP_ON_SOCKS)}\r\nconnection: close\r\n\r\n${HTTP_ON_SOCKS}`));
  }
  if (version !== SOCKS_VERSION) throw new SocksFailure("not a SOCKS5 greeting", null);
  const [count] = await take(1);
  const methods = [...(await take(count!))];
  // Credentials when offered, as Tor: they choose the circuit.
  const method = methods.includes(Method.USER_PASS) ? Method.USER_PASS : methods.includes(Method.NO_AUTH) ? Method.NO_AUTH : Method.NONE_ACCEPTABLE;
  send(Buffer.from([SOCKS_VERSION, method]));
  if (method === Method.NONE_ACCEPTABLE) throw new SocksFailure("no acceptable authentication method", null);

  let username: string | null = null;
  let password: string | null = null;
  if (method === Method.USER_PASS) {
    const [authVersion] = await take(1);
    if (authVersion !== AUTH_VERSION) {
      send(Buffer.from([AUTH_VERSION, 0x01]));
      throw new SocksFailure("not an RFC 1929 authentication", null);
    }
    username = (await take((await take(1))[0]!)).toString("utf8");
    password = (await take((await take(1))[0]!)).toString("utf8");
    send(Buffer.from([AUTH_VERSION, 0x00]));
  }

  const [requestVersion, command, , addressType] = await take(4);
  if (requestVersion !== SOCKS_VERSION) throw new SocksFailure("not a SOCKS5 request", SocksReply.GENERAL_FAILURE);
  if (command !== Command.CONNECT) throw new SocksFailure(`command ${command} is not supported (CONNECT only)`, SocksReply.COMMAND_NOT_SUPPORTED);
  let host: string;
  if (addressType === AddressType.IPV4) {
    host = [...(await take(4))].join(".");
  } else if (addressType === AddressType.IPV6) {
    const raw = await take(16);
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(raw.readUInt16BE(i).toString(16));
    // Canonical text (RFC 5952) through the URL parser, which compresses zeros.
    host = new URL(`http://[${groups.join(":")}]/`).hostname;
  } else if (addressType === AddressType.DOMAIN) {
    host = streamHost((await take((await take(1))[0]!)).toString("utf8"));
  } else {
    throw new SocksFailure(`address type ${addressType} is not supported`, SocksReply.ADDRESS_TYPE_NOT_SUPPORTED);
  }
  const port = (await take(2)).readUInt16BE(0);
  if (port === 0) throw new SocksFailure("port 0", SocksReply.NOT_ALLOWED);
  return { host, port, isolation: socksIsolation(username, password) };
}

/** A SOCKS5 domain name as a BEGIN host: IDNs to A-labels, IP literals as such. */
export function streamHost(name: string): string {
  const host = toStreamHost(name);
  if (host === null) throw new SocksFailure("the host name is not a valid name", SocksReply.HOST_UNREACHABLE);
  return host;
}

/** Takes bytes from a socket as they arrive; `rest()` gives what came after the last take. */
export function socketBytes(socket: { on(event: "data", fn: (chunk: Buffer) => void): unknown; on(event: "close", fn: () => void): unknown; off(event: "data", fn: (chunk: Buffer) => void): unknown; pause(): unknown }) {
  let buffered: Buffer = Buffer.alloc(0);
  let waiting: { n: number; resolve: (bytes: Buffer) => void; reject: (error: Error) => void } | null = null;
  let closed = false;
  const settle = () => {
    if (!waiting) return;
    if (buffered.length >= waiting.n) {
      const { n, resolve } = waiting;
      waiting = null;
      const bytes = buffered.subarray(0, n);
      buffered = buffered.subarray(n);
      resolve(bytes);
    } else if (closed) {
      const { reject } = waiting;
      waiting = null;
      reject(new SocksFailure("the client closed the connection during the handshake", null));
    }
  };
  const onData = (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    // A handshake is a few hundred bytes: a client that sends more before the reply is not one.
    if (buffered.length > 64 * 1024) socket.pause();
    settle();
  };
  socket.on("data", onData);
  socket.on("close", () => {
    closed = true;
    settle();
  });
  return {
    take: ((n: number) => new Promise<Buffer>((resolve, reject) => {
      waiting = { n, resolve, reject };
      settle();
    })) satisfies TakeBytes,
    /** Stops reading (the socket is paused) and returns the bytes that came early. */
    rest(): Buffer {
      socket.off("data", onData);
      socket.pause();
      return buffered;
    },
  };
}
