import { describe, expect, it } from "vitest";
import { DEFAULT_PROXY_PORT, HELP, parseInvocation, parsePort } from "./args.ts";
import { UsageError } from "./errors.ts";

const fetchOptions = (argv: string[]) => {
  const invocation = parseInvocation(["fetch", ...argv]);
  if (invocation.command !== "fetch") throw new Error(`expected fetch, got ${invocation.command}`);
  return invocation.options;
};

describe("parseInvocation", () => {
  it("answers help for no arguments, --help, -h and 'help <command>'", () => {
    expect(parseInvocation([])).toEqual({ command: "help", text: HELP.main });
    expect(parseInvocation(["--help"])).toEqual({ command: "help", text: HELP.main });
    expect(parseInvocation(["help", "proxy"])).toEqual({ command: "help", text: HELP.proxy });
    for (const command of ["fetch", "circuit", "proxy", "register", "login"] as const) {
      expect(parseInvocation([command, "--help"])).toEqual({ command: "help", text: HELP[command] });
      expect(parseInvocation([command, "-h"])).toEqual({ command: "help", text: HELP[command] });
    }
  });

  it("refuses unknown commands and options with a pointer to --help", () => {
    expect(() => parseInvocation(["frob"])).toThrow(new UsageError("unknown command 'frob' (see 'onion --help')"));
    expect(() => parseInvocation(["help", "frob"])).toThrow(UsageError);
    expect(() => parseInvocation(["fetch", "--bogus", "http://x/"])).toThrow(/Unknown option '--bogus' \(see 'onion fetch --help'\)$/);
    expect(() => parseInvocation(["fetch", "http://x/", "-X"])).toThrow(/argument missing \(see 'onion fetch --help'\)$/);
    expect(() => parseInvocation(["circuit", "extra"])).toThrow(/unexpected argument 'extra'/);
  });

  it("reads the network options every command shares", () => {
    const invocation = parseInvocation(["circuit", "--authority", "K1@http://d:1", "--authority", "K2@http://d:2", "--family-rule", "off", "--state-dir", "/tmp/s", "-v"]);
    expect(invocation).toEqual({ command: "circuit", options: { authorities: ["K1@http://d:1", "K2@http://d:2"], familyRule: false, stateDir: "/tmp/s", verbosity: "verbose" } });
    expect(parseInvocation(["circuit", "-s"])).toMatchObject({ options: { verbosity: "silent", authorities: undefined, familyRule: undefined } });
    expect(parseInvocation(["circuit", "--family-rule", "on"])).toMatchObject({ options: { familyRule: true } });
    expect(() => parseInvocation(["circuit", "--family-rule", "maybe"])).toThrow(/--family-rule is on or off/);
    expect(parseInvocation(["circuit"])).toMatchObject({ options: { verbosity: "auto" } });
    expect(() => parseInvocation(["circuit", "-v", "-s"])).toThrow(/cannot be used together/);
  });
});

describe("onion fetch arguments", () => {
  it("takes exactly one URL", () => {
    expect(fetchOptions(["http://example.com/"]).url).toBe("http://example.com/");
    expect(() => fetchOptions([])).toThrow(/URL is missing/);
    expect(() => fetchOptions(["http://a/", "http://b/"])).toThrow(/one URL only; unexpected 'http:\/\/b\/'/);
  });

  it("collects curl's options: -X, repeated -H, -i, -I, -f, -o, --new-circuit", () => {
    const options = fetchOptions(["-X", "put", "-H", "a: 1", "-H", "b: 2", "-i", "-f", "-o", "out.bin", "--new-circuit", "http://x/"]);
    expect(options).toMatchObject({ method: "put", headers: ["a: 1", "b: 2"], include: true, head: false, fail: true, output: "out.bin", newCircuit: true });
    expect(fetchOptions(["-I", "http://x/"])).toMatchObject({ head: true, include: false, fail: false, newCircuit: false, data: [] });
    expect(fetchOptions(["--request=DELETE", "--header=x: y", "http://x/"])).toMatchObject({ method: "DELETE", headers: ["x: y"] });
  });

  it("keeps -d and --data-binary in the order given, telling text from @files", () => {
    const options = fetchOptions(["-d", "a=1", "--data-binary", "@photo.jpg", "-d", "@form.txt", "--data-binary", "raw", "--data-binary", "@-", "http://x/"]);
    expect(options.data).toEqual([
      { kind: "text", text: "a=1" },
      { kind: "file", path: "photo.jpg", stripNewlines: false },
      { kind: "file", path: "form.txt", stripNewlines: true },
      { kind: "text", text: "raw" },
      { kind: "file", path: "-", stripNewlines: false },
    ]);
    expect(() => fetchOptions(["--data-binary", "@", "http://x/"])).toThrow(/names no file/);
  });

  it("accepts a URL after --, even one that looks like an option", () => {
    expect(fetchOptions(["--", "-weird"]).url).toBe("-weird");
  });
});

describe("onion proxy arguments", () => {
  it("listens on 127.0.0.1:8118 unless told otherwise", () => {
    expect(parseInvocation(["proxy"])).toMatchObject({ command: "proxy", options: { host: "127.0.0.1", port: DEFAULT_PROXY_PORT } });
    expect(parseInvocation(["proxy", "--port", "9000", "--host", "::1"])).toMatchObject({ options: { host: "::1", port: 9000 } });
    expect(parseInvocation(["proxy", "-p", "0"])).toMatchObject({ options: { port: 0 } });
  });

  it("refuses ports that are not 0–65535", () => {
    for (const bad of ["-1", "65536", "80x", "", "1e3"]) expect(() => parsePort(bad), bad).toThrow(/--port must be a number from 0 to 65535/);
    expect(parsePort("65535")).toBe(65535);
    expect(() => parseInvocation(["proxy", "--socks-port", "x"])).toThrow(/--socks-port must be a number from 0 to 65535, not 'x'/);
  });

  it("opens a SOCKS5 port with --socks-port: alone, or beside the HTTP port when --port is given too", () => {
    expect(parseInvocation(["proxy"])).toMatchObject({ options: { port: DEFAULT_PROXY_PORT, socksPort: null } });
    expect(parseInvocation(["proxy", "--socks-port", "9050"])).toMatchObject({ options: { port: null, socksPort: 9050 } });
    expect(parseInvocation(["proxy", "--port", "8118", "--socks-port", "9050"])).toMatchObject({ options: { port: 8118, socksPort: 9050 } });
    expect(parseInvocation(["proxy", "--port", "0", "--socks-port", "0"])).toMatchObject({ options: { port: 0, socksPort: 0 } });
    expect(() => parseInvocation(["proxy", "--port", "9050", "--socks-port", "9050"])).toThrow(/cannot both be 9050/);
  });
});

describe("--cacert", () => {
  it("names the PEM file to trust instead of the system's roots, for fetch, register and login", () => {
    expect(parseInvocation(["fetch", "--cacert", "ca.pem", "https://x/"])).toMatchObject({ options: { cacert: "ca.pem" } });
    expect(parseInvocation(["fetch", "https://x/"])).not.toHaveProperty("options.cacert");
    expect(parseInvocation(["login", "--cacert", "ca.pem", "bob"])).toMatchObject({ options: { cacert: "ca.pem" } });
    expect(() => parseInvocation(["register", "--cacert=", "bob"])).toThrow(/--cacert needs a file name/);
  });
});

describe("onion register / login arguments", () => {
  it("register defaults to SCRAM-SHA-256 and takes one of the four mechanisms", () => {
    expect(parseInvocation(["register", "alice"])).toEqual({
      command: "register",
      options: { username: "alice", mechanism: "scram-sha-256", server: undefined, serverKey: undefined, passwordStdin: false, authorities: undefined, familyRule: undefined, stateDir: undefined, verbosity: "auto" },
    });
    expect(parseInvocation(["register", "--mechanism", "sha384", "--server", "http://a:1", "--server-key", "K", "--password-stdin", "bob"])).toMatchObject({
      options: { username: "bob", mechanism: "sha384", server: "http://a:1", serverKey: "K", passwordStdin: true },
    });
    expect(() => parseInvocation(["register", "--mechanism", "md5", "bob"])).toThrow(/unknown mechanism 'md5'; use one of sha256, sha384, sha512, scram-sha-256/);
    expect(() => parseInvocation(["register", "--min-iterations", "4096", "bob"])).toThrow(/--min-iterations is a login option/);
  });

  it("login pins a mechanism (scram-sha-256 unless told) and a minimum of iterations", () => {
    expect(parseInvocation(["login", "--password-stdin", "carol"])).toMatchObject({ command: "login", options: { username: "carol", passwordStdin: true, mechanism: "scram-sha-256" } });
    expect((parseInvocation(["login", "carol"]) as { options: object }).options).not.toHaveProperty("minIterations");
    expect(parseInvocation(["login", "--mechanism", "sha256", "--min-iterations", "4096", "carol"])).toMatchObject({ options: { mechanism: "sha256", minIterations: 4096 } });
    expect(() => parseInvocation(["login"])).toThrow(/USERNAME is missing/);
    for (const bad of ["4095", "100001", "lots", "1e5"]) expect(() => parseInvocation(["login", "--min-iterations", bad, "carol"])).toThrow(/--min-iterations must be a number from 4096 to 100000/);
  });

  it("takes a key that begins with '-' as the value of --authority and --server-key", () => {
    const key = `-${"A".repeat(42)}`;
    const invocation = parseInvocation(["fetch", "--authority", `${key}@http://127.0.0.1:1`, "http://example.com/"]);
    expect(JSON.stringify(invocation)).toContain(key);
  });
});
