import { describe, expect, it } from "vitest";
import { fromUtf8, utf8 } from "@shallot/protocol";
import { buildRequest, joinData, notForwarded, parseHeader, parseMethod, parseTargetUrl, stripNewlines } from "./request.ts";

describe("parseHeader (-H)", () => {
  it("splits 'Name: value' at the first colon, lower-casing the name and trimming the value", () => {
    expect(parseHeader("X-Thing:  a: b  ")).toEqual({ name: "x-thing", value: "a: b" });
    expect(parseHeader("accept:text/html")).toEqual({ name: "accept", value: "text/html" });
  });

  it("follows curl: 'Name;' sends an empty value, 'Name:' leaves the header out", () => {
    expect(parseHeader("X-Empty;")).toEqual({ name: "x-empty", value: "" });
    expect(parseHeader("Content-Type:")).toEqual({ name: "content-type", omit: true });
  });

  it("refuses what is not a header", () => {
    expect(() => parseHeader("no colon here")).toThrow(/is not 'Name: value'/);
    expect(() => parseHeader(": value")).toThrow(/no valid name/);
    expect(() => parseHeader("bad name: v")).toThrow(/no valid name/);
    expect(() => parseHeader("x: a\r\nInjected: 1")).toThrow(/line break/);
  });
});

describe("parseTargetUrl", () => {
  it("accepts absolute http(s) URLs, normalised", () => {
    expect(parseTargetUrl("http://Example.COM")).toBe("http://example.com/");
    expect(parseTargetUrl("https://example.com/a b?q=1")).toBe("https://example.com/a%20b?q=1");
  });

  it("says what is wrong with anything else", () => {
    expect(() => parseTargetUrl("example.com")).toThrow("'example.com' is not an absolute http(s) URL: it needs a scheme, as in http://example.com/");
    expect(() => parseTargetUrl("ftp://example.com/")).toThrow(/only http:\/\/ and https:\/\/ URLs can be fetched/);
    expect(() => parseTargetUrl("http://")).toThrow(/not an absolute http\(s\) URL/);
    expect(() => parseTargetUrl(`http://x/${"a".repeat(9000)}`)).toThrow(/longer than 8192/);
  });
});

describe("parseMethod", () => {
  it("defaults like curl: GET, POST with data, HEAD with -I", () => {
    expect(parseMethod(undefined, false, false)).toBe("GET");
    expect(parseMethod(undefined, true, false)).toBe("POST");
    expect(parseMethod(undefined, false, true)).toBe("HEAD");
    expect(parseMethod("patch", true, false)).toBe("PATCH");
  });

  it("refuses methods the exit does not perform and bodies on GET/HEAD", () => {
    expect(() => parseMethod("TRACE", false, false)).toThrow("the method TRACE cannot go through a circuit; use GET, HEAD, POST, PUT, PATCH, DELETE");
    expect(() => parseMethod("GET", true, false)).toThrow(/a GET request cannot carry a body/);
    expect(() => parseMethod("POST", false, true)).toThrow(/-I sends HEAD/);
  });
});

describe("request bodies", () => {
  it("joins repeated data with & (curl) and keeps a single piece byte for byte", () => {
    expect(fromUtf8(joinData([utf8("a=1"), utf8("b=2")]))).toBe("a=1&b=2");
    const binary = new Uint8Array([0, 255, 10, 13, 38]);
    expect(joinData([binary])).toEqual(binary);
    expect(joinData([])).toEqual(new Uint8Array(0));
  });

  it("drops CR and LF from -d @FILE only", () => {
    expect(fromUtf8(stripNewlines(utf8("a=1\r\n&b=2\n")))).toBe("a=1&b=2");
  });
});

describe("buildRequest", () => {
  it("a plain GET carries no headers and no body", () => {
    expect(buildRequest({ url: "http://x/", head: false, headers: [], data: [] })).toEqual({ method: "GET", url: "http://x/", headers: [], body: new Uint8Array(0) });
  });

  it("data makes a form POST unless a content-type is given or omitted", () => {
    expect(buildRequest({ url: "http://x/", head: false, headers: [], data: [utf8("a")] })).toMatchObject({ method: "POST", headers: [["content-type", "application/x-www-form-urlencoded"]] });
    expect(buildRequest({ url: "http://x/", head: false, headers: ["Content-Type: image/png"], data: [utf8("a")] }).headers).toEqual([["content-type", "image/png"]]);
    expect(buildRequest({ url: "http://x/", head: false, headers: ["Content-Type:"], data: [utf8("a")] }).headers).toEqual([]);
  });

  it("sends only the headers exits forward: hop-by-hop, identifying and made-up ones stay home, and are named", () => {
    const input = {
      url: "http://x/",
      method: "PUT",
      head: false,
      headers: ["Host: evil", "X-Forwarded-For: 10.0.0.1", "Connection: close", "Onion-New-Circuit: 1", "CF-Connecting-IP: 1.2.3.4", "X-My-Address: 10.1.2.3", "Authorization: Bearer t", "Accept: */*", "Accept: text/html"],
      data: [utf8("x")],
    };
    expect(buildRequest(input).headers).toEqual([["authorization", "Bearer t"], ["accept", "*/*"], ["accept", "text/html"], ["content-type", "application/x-www-form-urlencoded"]]);
    expect(notForwarded(input)).toEqual(["host", "x-forwarded-for", "connection", "onion-new-circuit", "cf-connecting-ip", "x-my-address"]);
  });

  it("sends no user-agent unless asked, with -A or -H (-H wins)", () => {
    const base = { url: "http://x/", head: false, headers: [] as string[], data: [] };
    expect(buildRequest(base).headers).toEqual([]);
    expect(buildRequest({ ...base, userAgent: "mine/1" }).headers).toEqual([["user-agent", "mine/1"]]);
    expect(buildRequest({ ...base, userAgent: "mine/1", headers: ["User-Agent: other/2"] }).headers).toEqual([["user-agent", "other/2"]]);
    expect(buildRequest({ ...base, userAgent: "mine/1", headers: ["User-Agent:"] }).headers).toEqual([]);
  });
});
