import { env } from "cloudflare:workers";
import { fromBase64Url, generateEd25519, importEd25519, signVote, toBase64Url } from "@shallot/protocol";
import { describe, expect, it } from "vitest";
import { call, expectError, madeUpRelay as makeRelay, sendJson, storedIds, storedRow } from "./helpers.ts";

describe("bad input stores nothing", () => {
  // Every case checks that the stored relays did not move.
  async function expectRejected(send: () => Promise<Response>, status: number, error: string) {
    const storedBefore = await storedIds();
    await expectError(await send(), status, error);
    expect(await storedIds()).toEqual(storedBefore);
  }

  it("rejects a body that is not JSON", async () => {
    await expectRejected(() => sendJson("POST", "/descriptors", "{ not json"), 400, "invalid_json");
    await expectRejected(() => sendJson("POST", "/descriptors", ""), 400, "invalid_json");
  });

  it("rejects a descriptor with missing or extra fields", async () => {
    const relay = await makeRelay();
    const { descriptor, signature } = await relay.signed();
    const { onionKey: _omitted, ...partial } = descriptor;
    await expectRejected(() => sendJson("POST", "/descriptors", { descriptor: partial, signature }), 400, "invalid_request");
    await expectRejected(() => sendJson("POST", "/descriptors", { descriptor }), 400, "invalid_request");
    await expectRejected(() => sendJson("POST", "/descriptors", { descriptor: { ...descriptor, extra: 1 }, signature }), 400, "invalid_request");
    await expectRejected(() => sendJson("POST", "/descriptors", { descriptor: { ...descriptor, address: "ftp://relay.test/" }, signature }), 400, "invalid_request");
  });

  it.each([
    ["a control character", (base: string, id: string) => `${base}/relays/${id}\u0007`],
    ["a space", (base: string, id: string) => `${base}/a b/relays/${id}`],
    ["a newline (which would split lines in the CLI's -v output)", (base: string, id: string) => `${base}/x\nFAKE/relays/${id}`],
    ["a path that walks to another route", (base: string, id: string) => `${base}/relays/../fetch?url=${id}`],
    ["a query", (base: string, id: string) => `${base}/relays/${id}?x=1`],
    ["a percent-encoded segment", (base: string, id: string) => `${base}/%2e%2e/relays/${id}`],
    ["userinfo", (base: string, id: string) => `${base.replace("https://", "https://u:p@")}/relays/${id}`],
    ["another relay's id", (base: string) => `${base}/relays/${"0".repeat(64)}`],
  ])("refuses a descriptor whose address has %s, however well it is signed", async (_, make) => {
    const relay = await makeRelay();
    const base = relay.address.slice(0, relay.address.indexOf("/relays/"));
    await expectRejected(async () => sendJson("POST", "/descriptors", await relay.signed({ address: make(base, relay.id) })), 400, "invalid_request");
    expect(await storedIds()).not.toContain(relay.id);
  });

  it("rejects a descriptor whose signature does not cover its content", async () => {
    const relay = await makeRelay();
    const signed = await relay.signed();
    const tampered = { ...signed, descriptor: { ...signed.descriptor, address: `https://evil.test/relays/${signed.descriptor.id}` } };
    await expectRejected(() => sendJson("POST", "/descriptors", tampered), 400, "bad_signature");
  });

  it("rejects a descriptor published more than 5 minutes from now", async () => {
    const relay = await makeRelay();
    await expectRejected(async () => sendJson("POST", "/descriptors", await relay.signed({ published: Date.now() - 6 * 60_000 })), 400, "stale_descriptor");
    await expectRejected(async () => sendJson("POST", "/descriptors", await relay.signed({ published: Date.now() + 6 * 60_000 })), 400, "stale_descriptor");
  });

  it("rejects a descriptor published longer ago than the liveness TTL (a replay of a pruned relay)", async () => {
    const relay = await makeRelay();
    await expectRejected(async () => sendJson("POST", "/descriptors", await relay.signed({ published: Date.now() - 30_001 })), 400, "stale_descriptor");
    expect(await storedIds()).not.toContain(relay.id);
  });

  it("refuses a descriptor whose id is not the fingerprint of its identity key", async () => {
    const owner = await makeRelay();
    await owner.register();
    const impostor = await makeRelay("https://impostor.test");
    await expectRejected(async () => sendJson("POST", "/descriptors", await impostor.signed({ id: owner.id, address: `https://impostor.test/relays/${owner.id}` })), 400, "bad_signature");
    expect((await storedRow(owner.id))?.address).toBe(owner.address);
  });

  it("refuses to roll a relay back to an older descriptor", async () => {
    const relay = await makeRelay();
    const older = await relay.signed({ published: Date.now() - 2000, address: `https://old.test/relays/${relay.id}` });
    await relay.register({ published: Date.now() });
    await expectRejected(() => sendJson("POST", "/descriptors", older), 400, "stale_descriptor");
  });

  it("refuses votes that are malformed, not signed by a configured authority, or made under its own key", async () => {
    const stranger = await generateEd25519();
    const round = Date.now() - (Date.now() % 1000);
    const vote = (authority: string) => ({ version: 1 as const, authority, published: round, relays: [] });
    await expectError(await sendJson("POST", "/votes", "{ not json"), 400, "invalid_json");
    await expectError(await sendJson("POST", "/votes", { document: "{}" }), 400, "bad_vote");
    // Nested ten thousand deep (20 KB, under the size limit): refused as a vote, not a 500.
    await expectError(await sendJson("POST", "/votes", `${"[".repeat(10_000)}${"]".repeat(10_000)}`), 400, "bad_vote");
    await expectError(await sendJson("POST", "/votes", await signVote(vote(toBase64Url(stranger.publicKey)), stranger.privateKey)), 400, "bad_vote");
    // Under its own key: only it makes those.
    const own = await importEd25519(fromBase64Url(env.DIRECTORY_SIGNING_KEY!));
    await expectError(await sendJson("POST", "/votes", await signVote(vote(env.DIRECTORY_PUBLIC_KEY_FOR_TESTS), own.privateKey)), 400, "bad_vote");
    await expectError(await call("/votes/not-a-round"), 400, "invalid_request");
  });

  it("rejects a body over 64 KiB", async () => {
    await expectRejected(() => sendJson("POST", "/descriptors", JSON.stringify({ pad: "x".repeat(70 * 1024) })), 413, "payload_too_large");
  });

  it("answers unknown routes with a JSON 404", async () => {
    await expectRejected(() => call("/nowhere"), 404, "not_found");
    await expectRejected(() => call("/descriptors"), 404, "not_found");
  });
});
