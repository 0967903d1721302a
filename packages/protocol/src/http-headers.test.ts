import { describe, expect, it } from "vitest";
import { FORWARDED_REQUEST_HEADERS, endToEndHeaders, forwardedRequestHeaders } from "./http-headers.ts";

describe("request headers that cross the circuit", () => {
  it("keeps exactly the allowlisted names, lower-cased, in order and with repeats", () => {
    const sent: [string, string][] = [...FORWARDED_REQUEST_HEADERS].map((name) => [name.toUpperCase(), `value of ${name}`]);
    sent.push(["Accept", "text/plain"]);
    expect(forwardedRequestHeaders(sent)).toEqual([...sent.map(([name, value]) => [name.toLowerCase(), value])]);
  });

  it("drops every other name, whatever it is called: addresses, hosts, made-up names", () => {
    const identifying = ["x-client-ip", "client-ip", "x-forwarded-for", "forwarded", "x-real-ip", "true-client-ip", "cf-connecting-ip", "via", "x-originating-ip", "x-my-address", "referer", "origin", "accept-language", "host", "connection", "onion-new-circuit", "x-a", "z"];
    const random = Array.from({ length: 200 }, (_, i) => `x-${Math.random().toString(36).slice(2)}-${i}`);
    for (const name of [...identifying, ...random]) expect(forwardedRequestHeaders([[name, "10.1.2.3"]]), name).toEqual([]);
  });

  it("passes a response's end-to-end headers and drops hop-by-hop ones", () => {
    expect(endToEndHeaders([["Content-Type", "text/plain"], ["Connection", "close"], ["X-Origin", "kept"], ["Via", "1.1 proxy"]])).toEqual([["content-type", "text/plain"], ["x-origin", "kept"]]);
  });
});
