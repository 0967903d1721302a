import { generateEd25519 } from "@shallot/protocol";
import { describe, expect, it } from "vitest";
import { consensusWhere, expectError, hostedRelay, listedIds, madeUpRelay, nextConsensus, sendJson, storedIds } from "./helpers.ts";

describe("retirement", () => {
  it("removes the relay at once from what the authority stores, and from its next consensus", async () => {
    const relay = await hostedRelay();
    await relay.register();
    await consensusWhere((d) => listedIds(d).includes(relay.id));

    const response = await sendJson("DELETE", `/descriptors/${relay.id}`, await relay.retirement());
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: relay.id, retired: true });
    expect(await storedIds()).not.toContain(relay.id);
    expect(listedIds(await nextConsensus())).not.toContain(relay.id);
  });

  it("refuses a replay of the descriptor the relay published before it retired", async () => {
    const relay = await hostedRelay();
    const earlier = await relay.signed(Date.now() - 1000);
    await sendJson("POST", "/descriptors", earlier);
    await sendJson("DELETE", `/descriptors/${relay.id}`, await relay.retirement());

    await expectError(await sendJson("POST", "/descriptors", earlier), 400, "stale_descriptor");
    expect(await storedIds()).not.toContain(relay.id);
    // A descriptor published after the retirement brings the relay back (once tested again).
    expect((await relay.register(Date.now() + 1000)).status).toBe(200);
    await consensusWhere((d) => listedIds(d).includes(relay.id));
  });

  it("refuses a retirement signed by another key", async () => {
    const relay = await madeUpRelay();
    await relay.register();
    const stranger = await generateEd25519();
    await expectError(await sendJson("DELETE", `/descriptors/${relay.id}`, await relay.retirement(Date.now(), stranger.privateKey)), 400, "bad_signature");
    expect(await storedIds()).toContain(relay.id);
  });

  it("refuses a retirement outside the freshness window", async () => {
    const relay = await madeUpRelay();
    await relay.register();
    await expectError(await sendJson("DELETE", `/descriptors/${relay.id}`, await relay.retirement(Date.now() - 6 * 60_000)), 400, "stale_retirement");
    expect(await storedIds()).toContain(relay.id);
  });

  it("answers 404 for a relay it does not know", async () => {
    const relay = await madeUpRelay();
    await expectError(await sendJson("DELETE", `/descriptors/${relay.id}`, await relay.retirement()), 404, "unknown_relay");
  });

  it("requires the path id to match the body", async () => {
    const relay = await madeUpRelay();
    const other = await madeUpRelay();
    await relay.register();
    await expectError(await sendJson("DELETE", `/descriptors/${other.id}`, await relay.retirement()), 400, "invalid_request");
    await expectError(await sendJson("DELETE", "/descriptors/not-an-id", await relay.retirement()), 400, "invalid_request");
    expect(await storedIds()).toContain(relay.id);
  });
});
