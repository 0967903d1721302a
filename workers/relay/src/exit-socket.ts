// The exit's TCP connections for streams: `connect()` from cloudflare:sockets, read with a BYOB
// reader (up to a whole DATA cell at a time instead of the default 4 KiB chunks) only when the
// stream has window room, so an unread socket stops the server through TCP.
//
// The exit is given the host name and resolves it itself (the client never does, as with
// SOCKS5h). Under the production policy it resolves the name over DNS-over-HTTPS (DOH_URL), refuses
// the stream if any address is not public, and connects to the checked address — the socket's own
// resolution cannot be inspected (`opened.remoteAddress` is the name as given), and connecting to
// the address that was checked leaves no room for a name that answers differently twice.

import { connect } from "cloudflare:sockets";
import { type Bytes, classifyAddress, classifyDestination, EndReason, StreamRefusal, type StreamSocket, withDeadline } from "@shallot/protocol";

export interface ExitSocketConfig {
  allowPrivateDestinations: boolean;
  /** DNS-over-HTTPS JSON endpoint (RFC 8484's JSON form, as cloudflare-dns.com serves it). */
  dohUrl: string;
  resolveTimeoutMs: number;
}

/** The numeric ports an exit policy string allows: "80,443", "1-65535", "*". */
export function parsePorts(spec: string): (port: number) => boolean {
  if (spec.trim() === "*") return () => true;
  const ranges = spec.split(",").map((part) => {
    const [low, high] = part.trim().split("-").map(Number);
    if (!Number.isInteger(low) || low! < 1 || low! > 65535) throw new Error(`EXIT_PORTS has a bad entry "${part}".`);
    const top = high === undefined ? low! : high;
    if (!Number.isInteger(top) || top < low! || top > 65535) throw new Error(`EXIT_PORTS has a bad entry "${part}".`);
    return [low!, top] as const;
  });
  return (port) => ranges.some(([low, high]) => port >= low && port <= high);
}

/** What a stream's host and port face before any connection: the port list, literal private addresses. */
export function streamPolicy(allowPort: (port: number) => boolean, allowPrivateDestinations: boolean) {
  return (host: string, port: number): EndReason | null => {
    if (!allowPort(port)) return EndReason.EXITPOLICY;
    let url: URL;
    try {
      url = new URL(`http://${host}/`);
    } catch {
      // Not a host name or address literal: nothing to connect to.
      return EndReason.EXITPOLICY;
    }
    if (!allowPrivateDestinations && classifyDestination(url) === "private") return EndReason.EXITPOLICY;
    return null;
  };
}

const isLiteral = (host: string) => host.startsWith("[") || /^\d+(\.\d+){3}$/.test(host);

/** The public addresses a name resolves to, or a refusal (any non-public address refuses the name). */
async function resolve(host: string, config: ExitSocketConfig, signal: AbortSignal): Promise<string> {
  const name = host.replace(/\.$/, "");
  const lookups = await Promise.all(
    ["A", "AAAA"].map(async (type) => {
      const response = await fetch(`${config.dohUrl}?name=${encodeURIComponent(name)}&type=${type}`, { headers: { accept: "application/dns-json" }, signal });
      if (!response.ok) throw new StreamRefusal(EndReason.RESOLVEFAILED, "the resolver answered with an error");
      const answer = (await response.json()) as { Status?: number; Answer?: { type?: number; data?: unknown }[] };
      return (answer.Answer ?? []).filter((record) => (record.type === 1 || record.type === 28) && typeof record.data === "string").map((record) => String(record.data));
    }),
  );
  const addresses = lookups.flat();
  if (addresses.length === 0) throw new StreamRefusal(EndReason.RESOLVEFAILED, "the name does not resolve");
  if (addresses.some((address) => classifyAddress(address) !== "public")) throw new StreamRefusal(EndReason.EXITPOLICY, "the name resolves to an address that is not public");
  // IPv4 first: more destinations answer on it.
  return addresses.find((address) => !address.includes(":")) ?? addresses[0]!;
}

/** Opens the stream's TCP connection, or refuses it with an END reason. */
export async function connectExitSocket(host: string, port: number, signal: AbortSignal, config: ExitSocketConfig): Promise<StreamSocket> {
  let target = host.replace(/^\[|\]$/g, "");
  if (!config.allowPrivateDestinations && !isLiteral(host)) {
    try {
      target = await withDeadline(config.resolveTimeoutMs, (deadline) => resolve(host, config, AbortSignal.any([signal, deadline])));
    } catch (error) {
      if (error instanceof StreamRefusal) throw error;
      throw new StreamRefusal(EndReason.RESOLVEFAILED, "the name could not be resolved");
    }
  }
  const socket = connect({ hostname: target, port }, { allowHalfOpen: false });
  signal.addEventListener("abort", () => void socket.close().catch(() => {}), { once: true });
  try {
    await socket.opened;
  } catch {
    throw new StreamRefusal(EndReason.CONNECTREFUSED, "the destination refused the connection");
  }
  return exitSocket(socket);
}

function exitSocket(socket: Socket): StreamSocket {
  const reader = socket.readable.getReader({ mode: "byob" });
  const writer = socket.writable.getWriter();
  return {
    async read(max: number): Promise<Bytes | null> {
      const { value, done } = await reader.read(new Uint8Array(max));
      if (done || !value) return null;
      // A short read is copied out of the read buffer (up to a whole DATA cell), so what waits in
      // the queue holds what the budget was charged for, not the buffer behind it.
      return (value.byteLength < max / 4 ? value.slice() : value) as Bytes;
    },
    write: (bytes: Bytes) => writer.write(bytes),
    close() {
      // The socket first, and no writer.abort(): with an aborted writer workerd keeps the TCP
      // connection open (the server never sees the close). Pending reads and writes fail either way.
      void socket.close().catch(() => {});
      void reader.cancel().catch(() => {});
    },
  };
}
