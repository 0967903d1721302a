import { describe, expect, it } from "vitest";
import { parseAuthority, toStreamHost } from "./host.ts";

describe("a destination's name as a BEGIN host", () => {
  it("passes names on in lower-case A-labels, and IP literals in canonical form", () => {
    expect(toStreamHost("Example.COM")).toBe("example.com");
    expect(toStreamHost("bücher.example")).toBe("xn--bcher-kva.example");
    expect(toStreamHost("example.com.")).toBe("example.com.");
    expect(toStreamHost("192.0.2.1")).toBe("192.0.2.1");
    expect(toStreamHost("::1")).toBe("[::1]");
    expect(toStreamHost("[2001:DB8:0:0::1]")).toBe("[2001:db8::1]");
  });

  it("refuses anything that is not a name, whatever a lenient parser would make of it", () => {
    for (const bad of ["a/b", "example.com/evil", "user@example.com", "a b", "x:y", "a%2fb", "", "[example.com]", "[1.2.3.4]", "a".repeat(64) + ".com", "-", "exa mple"]) expect(toStreamHost(bad), bad).toBe(null);
  });

  it("reads CONNECT targets: host:port, with IPv6 in brackets", () => {
    expect(parseAuthority("Example.com:443")).toEqual({ host: "example.com", port: 443 });
    expect(parseAuthority("[::1]:8443")).toEqual({ host: "[::1]", port: 8443 });
    expect(parseAuthority("10.1.2.3:1")).toEqual({ host: "10.1.2.3", port: 1 });
    for (const bad of ["example.com", "example.com:0", "example.com:65536", "::1:443", "http://example.com:443", "example.com:443/x", "a/b:443", "user@host:443", ":443", "host:", "host:44a"]) expect(parseAuthority(bad), bad).toBe(null);
  });
});
