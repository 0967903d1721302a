import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { toBase64Url } from "@shallot/protocol";
import { CliError, UsageError } from "../errors.ts";
import { DEV_AUTH_URL, resolveAuthServer } from "./auth.ts";

const KEY = "GBTKInt4N6NrvVnizjOB6yRjHHMCTbJlmpRF2ZDmASg";
const OTHER = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const missingFile = join(tmpdir(), "no-such-dir", "auth-hpke-key.json");
const keyFile = () => {
  const file = join(mkdtempSync(join(tmpdir(), "onion-auth-key-")), "auth-hpke-key.json");
  writeFileSync(file, JSON.stringify({ seed: "secret", publicKey: KEY }));
  return file;
};

describe("resolveAuthServer: the key is pinned from this machine's configuration", () => {
  it("defaults to the dev mesh's server and the key file it wrote", () => {
    const server = resolveAuthServer({}, {}, keyFile());
    expect(server.url).toBe(DEV_AUTH_URL);
    expect(toBase64Url(server.publicKey)).toBe(KEY);
  });

  it("takes SHALLOT_AUTH with SHALLOT_AUTH_KEY, and --server-key over both", () => {
    const env = { SHALLOT_AUTH: "https://auth.example/", SHALLOT_AUTH_KEY: OTHER };
    expect(resolveAuthServer({}, env, missingFile)).toMatchObject({ url: "https://auth.example", keySource: "SHALLOT_AUTH_KEY" });
    expect(resolveAuthServer({ server: "https://auth.example" }, env, missingFile)).toMatchObject({ keySource: "SHALLOT_AUTH_KEY" });
    const flagged = resolveAuthServer({ server: "https://elsewhere.example", serverKey: KEY }, env, missingFile);
    expect(flagged).toMatchObject({ url: "https://elsewhere.example", keySource: "--server-key" });
    expect(toBase64Url(flagged.publicKey)).toBe(KEY);
  });

  it("refuses another server without --server-key: no key is ever learned through the network", () => {
    expect(() => resolveAuthServer({ server: "http://impostor.example" }, {}, keyFile())).toThrow(UsageError);
    expect(() => resolveAuthServer({ server: "http://impostor.example" }, { SHALLOT_AUTH_KEY: KEY }, keyFile())).toThrow(/pass --server-key KEY/);
    // SHALLOT_AUTH without SHALLOT_AUTH_KEY: the dev mesh's key is not used for another server.
    expect(() => resolveAuthServer({}, { SHALLOT_AUTH: "https://auth.example" }, keyFile())).toThrow(/set SHALLOT_AUTH_KEY or pass --server-key/);
  });

  it("says where to get a key when the dev key file is missing, and refuses malformed keys and URLs", () => {
    expect(() => resolveAuthServer({}, {}, missingFile)).toThrow(CliError);
    expect(() => resolveAuthServer({}, {}, missingFile)).toThrow(/pass --server-key KEY/);
    expect(() => resolveAuthServer({ serverKey: "abc" }, {}, missingFile)).toThrow(/not an X25519 public key/);
    expect(() => resolveAuthServer({ server: "auth.example", serverKey: KEY }, {}, missingFile)).toThrow(/not an http\(s\) URL/);
  });
});
