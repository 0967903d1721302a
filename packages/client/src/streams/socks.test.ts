import { describe, expect, it } from "vitest";
import { SocksReply } from "./refusal.ts";
import { SocksFailure, negotiate, socksIsolation, socksReply, streamHost } from "./socks.ts";

/** A client's bytes, taken as the handshake asks for them; what the server sent back, in order. */
function conversation(...parts: number[][]) {
  let bytes = Buffer.from(parts.flat());
  const sent: number[][] = [];
  const take = async (n: number) => {
    if (bytes.length < n) throw new SocksFailure("the client closed the connection during the handshake", null);
    const out = bytes.subarray(0, n);
    bytes = bytes.subarray(n);
    return out;
  };
  return { take, send: (reply: Buffer) => void sent.push([...reply]), sent, left: () => bytes.length };
}

const port = (n: number) => [n >> 8, n & 0xff];
const domain = (name: string) => [0x03, Buffer.byteLength(name), ...Buffer.from(name)];

describe("SOCKS5 handshake (RFC 1928, RFC 1929)", () => {
  it("takes a CONNECT to a host name without authentication, leaving the name for the exit", async () => {
    const c = conversation([5, 1, 0], [5, 1, 0, ...domain("Example.COM"), ...port(443)]);
    expect(await negotiate(c.take, c.send)).toEqual({ host: "example.com", port: 443, isolation: socksIsolation(null, null) });
    expect(c.sent).toEqual([[5, 0]]);
    expect(c.left()).toBe(0);
  });

  it("prefers username/password when offered (as Tor), and keys the circuit by them", async () => {
    const c = conversation([5, 2, 0, 2], [1, 5, ...Buffer.from("alice"), 3, ...Buffer.from("pw1")], [5, 1, 0, 1, 10, 0, 0, 7, ...port(80)]);
    const request = await negotiate(c.take, c.send);
    expect(request).toEqual({ host: "10.0.0.7", port: 80, isolation: socksIsolation("alice", "pw1") });
    expect(c.sent).toEqual([[5, 2], [1, 0]]);
    // Any other credentials are another identity, with no ambiguity between the fields.
    expect(new Set([socksIsolation("alice", "pw1"), socksIsolation("alice", "pw2"), socksIsolation("alicepw", "1"), socksIsolation(null, null), socksIsolation("", "")]).size).toBe(5);
  });

  it("takes IPv6 addresses, in brackets and canonical form", async () => {
    const v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const c = conversation([5, 1, 0], [5, 1, 0, 4, ...v6, ...port(8443)]);
    expect(await negotiate(c.take, c.send)).toMatchObject({ host: "[2001:db8::1]", port: 8443 });
  });

  it("refuses what it does not carry with the RFC's reply codes", async () => {
    const refused = async (...parts: number[][]) => {
      const c = conversation(...parts);
      return negotiate(c.take, c.send).then(
        () => "accepted",
        (error: SocksFailure) => error.reply,
      );
    };
    expect(await refused([5, 1, 0], [5, 2, 0, ...domain("example.com"), ...port(80)])).toBe(SocksReply.COMMAND_NOT_SUPPORTED);
    expect(await refused([5, 1, 0], [5, 3, 0, 1, 0, 0, 0, 0, 0, 0])).toBe(SocksReply.COMMAND_NOT_SUPPORTED);
    expect(await refused([5, 1, 0], [5, 1, 0, 9, 1, 2, 3, 4])).toBe(SocksReply.ADDRESS_TYPE_NOT_SUPPORTED);
    expect(await refused([5, 1, 0], [5, 1, 0, ...domain("bad name!"), ...port(80)])).toBe(SocksReply.HOST_UNREACHABLE);
    expect(await refused([5, 1, 0], [5, 1, 0, ...domain("example.com"), ...port(0)])).toBe(SocksReply.NOT_ALLOWED);
    // Not SOCKS5 at all: closed without a SOCKS5 reply.
    expect(await refused([5, 1, 0], [4, 1, 0, 1])).toBe(SocksReply.GENERAL_FAILURE);
    expect(await refused([5, 1, 0])).toBe(null);
  });

  it("closes on a greeting with no method it accepts (0xFF), SOCKS4, and an HTTP request, answering each in its own words", async () => {
    const gssapiOnly = conversation([5, 1, 1]);
    await expect(negotiate(gssapiOnly.take, gssapiOnly.send)).rejects.toMatchObject({ reply: null });
    expect(gssapiOnly.sent).toEqual([[5, 0xff]]);
    const socks4 = conversation([4, 1, 0, 80, 1, 2, 3, 4, 0]);
    await expect(negotiate(socks4.take, socks4.send)).rejects.toMatchObject({ reply: null, answer: Buffer.from([0, 0x5b, 0, 0, 0, 0, 0, 0]) });
    const http = conversation([...Buffer.from("GET / HTTP/1.1\r\n\r\n")]);
    const failure = (await negotiate(http.take, http.send).catch((error: SocksFailure) => error)) as SocksFailure;
    expect(failure.answer!.toString()).toMatch(/^HTTP\/1\.0 501 Not Implemented\r\n[\s\S]*"error":"not_an_http_proxy"/);
  });

  it("replies with the code and a bound address it does not disclose", () => {
    expect([...socksReply(SocksReply.NOT_ALLOWED)]).toEqual([5, 2, 0, 1, 0, 0, 0, 0, 0, 0]);
  });

  it("turns SOCKS5 names into BEGIN hosts: A-labels, IP literals", () => {
    expect(streamHost("bücher.example")).toBe("xn--bcher-kva.example");
    expect(streamHost("127.0.0.1")).toBe("127.0.0.1");
    expect(streamHost("::1")).toBe("[::1]");
    expect(() => streamHost("a/b")).toThrow(SocksFailure);
  });
});
