import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConsensusDocument, generateEd25519, signConsensus, toBase64Url } from "@shallot/protocol";
import { DEV_DIRECTORY_URL, fetchConsensus, resolveDirectory } from "./directory.ts";
import { CliError, UsageError } from "./errors.ts";

const KEY = "GBTKInt4N6NrvVnizjOB6yRjHHMCTbJlmpRF2ZDmASg";
const OTHER = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const missingFile = join(tmpdir(), "no-such-dir", "directory-key.json");

describe("resolveDirectory", () => {
  it("prefers flags, then SHALLOT_DIRECTORY / SHALLOT_DIRECTORY_KEY", () => {
    const env = { SHALLOT_DIRECTORY: "http://env:1/", SHALLOT_DIRECTORY_KEY: OTHER };
    expect(resolveDirectory({ directory: "http://flag:2/", directoryKey: KEY }, env, missingFile)).toMatchObject({ url: "http://flag:2", keySource: "--directory-key" });
    expect(resolveDirectory({}, env, missingFile)).toMatchObject({ url: "http://env:1", keySource: "SHALLOT_DIRECTORY_KEY" });
    expect(toBase64Url(resolveDirectory({ directoryKey: KEY }, {}, missingFile).key)).toBe(KEY);
  });

  it("falls back to the dev mesh's directory and the key file it wrote", () => {
    const file = join(mkdtempSync(join(tmpdir(), "onion-key-")), "directory-key.json");
    writeFileSync(file, JSON.stringify({ seed: "secret", publicKey: KEY }));
    const config = resolveDirectory({}, {}, file);
    expect(config).toMatchObject({ url: DEV_DIRECTORY_URL, keySource: file });
    expect(toBase64Url(config.key)).toBe(KEY);
  });

  it("without any key, tells the user to pass --directory-key", () => {
    expect(() => resolveDirectory({}, {}, missingFile)).toThrow(CliError);
    expect(() => resolveDirectory({}, {}, missingFile)).toThrow(/pass --directory-key KEY/);
  });

  it("refuses keys that are not 32 bytes of base64url and directories that are not URLs", () => {
    expect(() => resolveDirectory({ directoryKey: "abc" }, {}, missingFile)).toThrow(UsageError);
    expect(() => resolveDirectory({ directoryKey: `${KEY}=` }, {}, missingFile)).toThrow(/not an Ed25519 public key/);
    expect(() => resolveDirectory({ directory: "localhost:8788", directoryKey: KEY }, {}, missingFile)).toThrow(/is not an http\(s\) URL/);
  });
});

describe("fetchConsensus", () => {
  let server: Server;
  let url: string;
  let answer: { status: number; body: string };
  let directoryKey: Awaited<ReturnType<typeof generateEd25519>>;
  const document = (published: number): ConsensusDocument => ({ version: 1, published, validUntil: published + 30_000, relays: [] });

  beforeAll(async () => {
    directoryKey = await generateEd25519();
    server = createServer((_request, response) => {
      response.writeHead(answer.status, { "content-type": "application/json" });
      response.end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const config = () => ({ url, key: directoryKey.publicKey, keySource: "test" });

  it("returns the document when the pinned key signed it", async () => {
    const now = Date.now();
    answer = { status: 200, body: JSON.stringify(await signConsensus(document(now), directoryKey.privateKey)) };
    expect(await fetchConsensus(config())).toEqual(document(now));
  });

  it("never uses a consensus signed by another key", async () => {
    const other = await generateEd25519();
    answer = { status: 200, body: JSON.stringify(await signConsensus(document(Date.now()), other.privateKey)) };
    await expect(fetchConsensus(config())).rejects.toMatchObject({ code: "bad_signature", status: 503, message: expect.stringMatching(/not signed by the pinned directory key \(from test\)/) });
  });

  it("names stale, non-JSON and failed answers", async () => {
    answer = { status: 200, body: JSON.stringify(await signConsensus(document(Date.now() - 10 * 60_000), directoryKey.privateKey)) };
    await expect(fetchConsensus(config())).rejects.toMatchObject({ code: "stale_consensus" });
    answer = { status: 200, body: "<html>" };
    await expect(fetchConsensus(config())).rejects.toMatchObject({ code: "malformed_message" });
    answer = { status: 500, body: "{}" };
    await expect(fetchConsensus(config())).rejects.toMatchObject({ code: "directory_unreachable", message: expect.stringContaining("answered 500") });
  });

  it("says so when nothing listens", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect(fetchConsensus({ ...config(), url: `http://127.0.0.1:${port}` })).rejects.toMatchObject({ code: "directory_unreachable", message: expect.stringContaining("ECONNREFUSED") });
  });
});
