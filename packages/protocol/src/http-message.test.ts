import { describe, expect, it } from "vitest";
import { type Bytes, ByteWriter, concat, utf8 } from "./bytes.ts";
import {
  type HttpRequestMessage,
  type HttpResponseMessage,
  decodeExitError,
  decodeHttpRequest,
  decodeHttpResponse,
  encodeExitError,
  encodeHttpRequest,
  encodeHttpResponse,
  isCarriableResponse,
} from "./http-message.ts";

const binary = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 255);
const request: HttpRequestMessage = {
  method: "POST",
  url: "https://example.com/api?q=%C3%A9",
  headers: [
    ["content-type", "application/octet-stream"],
    ["x-dup", "1"],
    ["x-dup", "2"],
  ],
  body: binary,
};
const response: HttpResponseMessage = { status: 404, statusText: "Not Found", headers: [["content-type", "text/plain; charset=utf-8"]], body: utf8("nope é") };

/** A message with arbitrary meta, to reach the schema checks. */
const withMeta = (meta: unknown, body: Bytes = new Uint8Array(0)) => {
  const json = utf8(JSON.stringify(meta));
  return new ByteWriter(4 + json.length + body.length).u32(json.length).raw(json).raw(body).bytes;
};
const expectMalformed = (fn: () => unknown) => expect(fn).toThrow(expect.objectContaining({ name: "ProtocolError", code: "malformed_message" }));

describe("HTTP messages carried by the circuit", () => {
  it("round-trip a request with a binary body and repeated headers in order", () => {
    expect(decodeHttpRequest(encodeHttpRequest(request))).toEqual(request);
  });

  it("round-trip a response and an empty body", () => {
    expect(decodeHttpResponse(encodeHttpResponse(response))).toEqual(response);
    const empty = { ...response, body: new Uint8Array(0) };
    expect(decodeHttpResponse(encodeHttpResponse(empty))).toEqual(empty);
  });

  it("round-trip an exit error", () => {
    const error = { error: "destination_refused", message: "Private addresses are not served.", status: 403 };
    expect(decodeExitError(encodeExitError(error))).toEqual(error);
  });

  it("lay out a u32 meta length, the meta JSON, then the body", () => {
    const encoded = encodeHttpRequest({ method: "GET", url: "http://a.b/", headers: [], body: Uint8Array.of(1, 2) });
    const json = utf8(JSON.stringify({ method: "GET", url: "http://a.b/", headers: [] }));
    expect(encoded).toEqual(concat(Uint8Array.of(0, 0, 0, json.length), json, Uint8Array.of(1, 2)));
  });

  it.each(["CONNECT", "TRACE", "get", "OPTIONS"])("refuse the method %s", (method) => {
    expectMalformed(() => decodeHttpRequest(withMeta({ method, url: "http://a.b/", headers: [] })));
  });

  it.each(["/relative", "example.com/path", "", "http://"])("refuse the non-absolute URL %j", (url) => {
    expectMalformed(() => decodeHttpRequest(withMeta({ method: "GET", url, headers: [] })));
  });

  it.each(["bad header", "a:b", "", "x-é", "line\nbreak"])("refuse the header name %j", (name) => {
    expectMalformed(() => decodeHttpRequest(withMeta({ method: "GET", url: "http://a.b/", headers: [[name, "v"]] })));
  });

  it("refuse headers that are not name/value pairs, and more than 256 of them", () => {
    expectMalformed(() => decodeHttpRequest(withMeta({ method: "GET", url: "http://a.b/", headers: [["x"]] })));
    expectMalformed(() => decodeHttpRequest(withMeta({ method: "GET", url: "http://a.b/", headers: [["x", 1]] })));
    const many = Array.from({ length: 257 }, (_, i) => [`x-${i}`, "v"]);
    expectMalformed(() => decodeHttpRequest(withMeta({ method: "GET", url: "http://a.b/", headers: many })));
  });

  it("refuse a request with an unknown meta field", () => {
    expectMalformed(() => decodeHttpRequest(withMeta({ method: "GET", url: "http://a.b/", headers: [], cookie: "x" })));
  });

  it("refuse truncated messages", () => {
    const encoded = encodeHttpRequest(request);
    expectMalformed(() => decodeHttpRequest(new Uint8Array(0)));
    expectMalformed(() => decodeHttpRequest(encoded.subarray(0, 3)));
    // Cut inside the meta JSON: the length field now runs past the end.
    expectMalformed(() => decodeHttpRequest(encoded.subarray(0, 20)));
  });

  it("refuse meta that is not JSON or not UTF-8", () => {
    expectMalformed(() => decodeHttpRequest(concat(Uint8Array.of(0, 0, 0, 3), utf8("{x}"))));
    expectMalformed(() => decodeHttpRequest(concat(Uint8Array.of(0, 0, 0, 2), Uint8Array.of(0xff, 0xfe))));
  });

  it.each([199, 600, 200.5])("refuse a response status of %d", (status) => {
    expectMalformed(() => decodeHttpResponse(withMeta({ status, statusText: "", headers: [] })));
  });

  it("refuse an exit error with a malformed code or a status outside 400-599", () => {
    expectMalformed(() => decodeExitError(withMeta({ error: "Bad Code", message: "", status: 502 })));
    expectMalformed(() => decodeExitError(withMeta({ error: "bad_gateway", message: "", status: 200 })));
  });

  it("do not take a request for a response or an error", () => {
    const encoded = encodeHttpRequest(request);
    expectMalformed(() => decodeHttpResponse(encoded));
    expectMalformed(() => decodeExitError(encoded));
  });
});

describe("isCarriableResponse", () => {
  const meta = (over: Partial<{ status: number; statusText: string; headers: [string, string][] }> = {}) => ({ status: 200, statusText: "OK", headers: [] as [string, string][], ...over });

  it("accepts what decodeHttpResponse accepts, and refuses what it would reject as malformed", () => {
    const cases = [
      meta(),
      meta({ status: 599 }),
      meta({ headers: Array.from({ length: 256 }, (_, i) => [`x-${i}`, "v"] as [string, string]) }),
      meta({ status: 199 }),
      meta({ status: 600 }),
      meta({ status: 101 }),
      meta({ headers: Array.from({ length: 257 }, (_, i) => [`x-${i}`, "v"] as [string, string]) }),
      meta({ statusText: "x".repeat(1025) }),
      meta({ headers: [["bad name", "v"]] }),
    ];
    for (const c of cases) {
      let decodes = true;
      try {
        decodeHttpResponse(encodeHttpResponse({ ...c, body: new Uint8Array(0) }));
      } catch {
        decodes = false;
      }
      expect(isCarriableResponse(c), JSON.stringify({ ...c, headers: c.headers.length })).toBe(decodes);
    }
    expect(cases.filter(isCarriableResponse)).toHaveLength(3);
  });
});
