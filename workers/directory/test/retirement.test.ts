import { generateEd25519 } from "@shallot/protocol";
import { describe, expect, it } from "vitest";
import { consensusIds, expectError, fetchConsensus, makeRelay, sendJson, storedIds } from "./helpers.ts";

describe("retirement", () => {
  it("removes the relay from the consensus at once", async () => {
    const relay = await makeRelay();
    await relay.register();
    expect(await consensusIds()).toContain(relay.id);

    const response = await sendJson("DELETE", `/descriptors/${relay.id}`, await relay.retirement());
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: relay.id, retired: true });
    expect(await storedIds()).not.toContain(relay.id);
    expect(await consensusIds()).not.toContain(relay.id);
  });

  it("refuses a replay of the descriptor the relay published before it retired", async () => {
    const relay = await makeRelay();
    const earlier = await relay.signed({ published: Date.now() - 1000 });
    await sendJson("POST", "/descriptors", earlier);
    await sendJson("DELETE", `/descriptors/${relay.id}`, await relay.retirement());

    await expectError(await sendJson("POST", "/descriptors", earlier), 400, "stale_descriptor");
    expect(await storedIds()).not.toContain(relay.id);
    // A descriptor published after the retirement brings the relay back.
    expect((await relay.register({ published: Date.now() + 1000 })).status).toBe(200);
    expect(await consensusIds()).toContain(relay.id);
  });

  it("refuses a retirement signed by another key", async () => {
    const relay = await makeRelay();
    await relay.register();
    const before = await fetchConsensus();
    const stranger = await generateEd25519();
    await expectError(await sendJson("DELETE", `/descriptors/${relay.id}`, await relay.retirement(Date.now(), stranger.privateKey)), 400, "bad_signature");
    expect(await storedIds()).toContain(relay.id);
    expect(await fetchConsensus()).toEqual(before);
  });

  it("refuses a retirement outside the freshness window", async () => {
    const relay = await makeRelay();
    await relay.register();
    await expectError(await sendJson("DELETE", `/descriptors/${relay.id}`, await relay.retirement(Date.now() - 6 * 60_000)), 400, "stale_retirement");
    expect(await storedIds()).toContain(relay.id);
  });

  it("answers 404 for a relay it does not know", async () => {
    const relay = await makeRelay();
    await expectError(await sendJson("DELETE", `/descriptors/${relay.id}`, await relay.retirement()), 404, "unknown_relay");
  });

  it("requires the path id to match the body", async () => {
    const relay = await makeRelay();
    const other = await makeRelay();
    await relay.register();
    await expectError(await sendJson("DELETE", `/descriptors/${other.id}`, await relay.retirement()), 400, "invalid_request");
    await expectError(await sendJson("DELETE", "/descriptors/not-an-id", await relay.retirement()), 400, "invalid_request");
    expect(await storedIds()).toContain(relay.id);
  });
});
