import { describe, expect, it } from "vitest";
import { AuthorityListError, formatAuthorities, majorityOf, parseAuthorities } from "./authorities.ts";
import { toBase64Url } from "./bytes.ts";

const key = (n: number) => toBase64Url(new Uint8Array(32).fill(n));

describe("parseAuthorities", () => {
  it("reads KEY@URL entries separated by commas or spaces, without trailing slashes", () => {
    const text = `${key(1)}@http://127.0.0.1:8788/, ${key(2)}@http://127.0.0.1:8791\n${key(3)}@https://a3.example/dir`;
    const list = parseAuthorities(text);
    expect(list).toEqual([
      { url: "http://127.0.0.1:8788", key: key(1) },
      { url: "http://127.0.0.1:8791", key: key(2) },
      { url: "https://a3.example/dir", key: key(3) },
    ]);
    expect(parseAuthorities(formatAuthorities(list))).toEqual(list);
  });

  it.each([
    ["an empty list", " , "],
    ["an entry without @", "http://a.test"],
    ["a short key", `${key(1).slice(1)}@http://a.test`],
    ["a key in another spelling of the same bytes", `${key(1).slice(0, 42)}B@http://a.test`],
    ["a URL that is not http(s)", `${key(1)}@ftp://a.test`],
    ["a key listed twice", `${key(1)}@http://a.test ${key(1)}@http://b.test`],
    ["a URL listed twice", `${key(1)}@http://a.test ${key(2)}@http://a.test/`],
    ["ten authorities", Array.from({ length: 10 }, (_, i) => `${key(i + 1)}@http://a${i}.test`).join(",")],
  ])("refuses %s", (_, text) => {
    expect(() => parseAuthorities(text)).toThrow(AuthorityListError);
  });
});

describe("majorityOf", () => {
  it("is more than half", () => {
    expect([1, 2, 3, 4, 5].map(majorityOf)).toEqual([1, 2, 2, 3, 3]);
  });
});
