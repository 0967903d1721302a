import { describe, expect, it } from "vitest";
import { classifyAddress, classifyDestination } from "./exit-policy.ts";

const classify = (url: string) => classifyDestination(new URL(url));

describe("classifyDestination", () => {
  it.each([
    "http://127.0.0.1/",
    "http://127.255.255.254:8080/",
    "http://10.0.0.1/",
    "http://10.255.255.255/",
    "http://172.16.0.1/",
    "http://172.31.255.255/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://100.127.255.255/",
    "http://0.0.0.0/",
    "http://192.0.0.1/",
    "http://198.18.0.1/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://localhost/",
    "http://LOCALHOST:3000/",
    "http://localhost./",
    "http://foo.localhost/",
    "http://printer.local/",
    "http://db.internal/",
    "http://router.home.arpa/",
    "http://[::1]/",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[febf::1]/",
    "http://[fc00::1]/",
    "http://[fdff:ffff::1]/",
    "http://[ff02::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.1.2.3]/",
    "http://[::ffff:192.168.0.1]/",
    "http://[::127.0.0.1]/",
    "http://[::ffff:0:7f00:1]/",
    "http://[64:ff9b:1::a00:1]/",
    "http://[fec0::1]/",
    "http://[2001::1]/",
    "http://localhost../",
    "http://127.0.0.1../",
    "http://[64:ff9b::a00:1]/",
    "http://[2002:c0a8:101::1]/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://017700000001/",
    "http://127.1/",
    "http://intranet/",
    "https://metadata/",
  ])("treats %s as private", (url) => {
    expect(classify(url)).toBe("private");
  });

  it.each([
    "http://example.com/",
    "https://www.example.com:8443/path?q=1",
    "http://93.184.216.34/",
    "http://8.8.8.8/",
    "http://1.1.1.1/",
    "http://172.15.255.255/",
    "http://172.32.0.1/",
    "http://100.63.255.255/",
    "http://100.128.0.1/",
    "http://169.253.0.1/",
    "http://192.169.0.1/",
    "http://[2606:4700::1]/",
    "http://[64:ff9b::808:808]/",
    "http://[2002:808:808::1]/",
    "http://[2001:db8::1]/",
    "http://[::ffff:93.184.216.34]/",
    "http://localhost.example.com/",
  ])("treats %s as public", (url) => {
    expect(classify(url)).toBe("public");
  });

  it("sees IPv4-mapped IPv6 in the form the URL parser rewrites it to", () => {
    const url = new URL("http://[::ffff:127.0.0.1]/");
    expect(url.hostname).toBe("[::ffff:7f00:1]");
    expect(classifyDestination(url)).toBe("private");
  });

  it("sees decimal and hexadecimal IPv4 in the dotted form the URL parser normalises them to", () => {
    expect(new URL("http://2130706433/").hostname).toBe("127.0.0.1");
    expect(new URL("http://0x7f.1/").hostname).toBe("127.0.0.1");
  });
});

describe("classifyAddress (what a name resolved to)", () => {
  it.each(["127.0.0.1", "10.1.2.3", "192.168.1.1", "169.254.169.254", "::1", "[::1]", "fe80::1%eth0", "::ffff:127.0.0.1", "fd00::5", "0.0.0.0", "100.64.0.1", "not an address", ""])("refuses %s", (address) => {
    expect(classifyAddress(address)).toBe("private");
  });
  it.each(["93.184.216.34", "2606:4700::1111", "[2606:4700::1111]", "1.1.1.1"])("accepts %s", (address) => {
    expect(classifyAddress(address)).toBe("public");
  });
});
