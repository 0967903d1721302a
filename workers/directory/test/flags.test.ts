import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { consensusWhere, directoryStub, hostedRelay, listedIds, nextConsensus } from "./helpers.ts";

// The test config: Stable after 60 s up, Guard after 120 s. A relay's uptime is moved back in storage.
const upFor = (id: string, ms: number) =>
  runInDurableObject(directoryStub(), (_i, s) => void s.storage.sql.exec("UPDATE descriptors SET running_since = ? WHERE id = ?", Date.now() - ms, id));
const flagsOf = async (id: string) => (await nextConsensus()).relays.find((r) => r.id === id)?.flags;

describe("flags", () => {
  it("marks a relay Running once tested, Stable once up for long enough, Guard once stable for longer", async () => {
    const relay = await hostedRelay();
    await relay.register();
    await consensusWhere((d) => listedIds(d).includes(relay.id));
    expect(await flagsOf(relay.id)).toEqual(["Exit", "Running"]);
    await upFor(relay.id, 61_000);
    expect(await flagsOf(relay.id)).toEqual(["Exit", "Running", "Stable"]);
    await upFor(relay.id, 121_000);
    expect(await flagsOf(relay.id)).toEqual(["Exit", "Guard", "Running", "Stable"]);
  });

  it("gives the Exit flag only to a relay whose exit policy allows something", async () => {
    const middle = await hostedRelay(undefined, "honest", "none");
    const exit = await hostedRelay(undefined, "honest", "public");
    await middle.register();
    await exit.register();
    const document = await consensusWhere((d) => [middle.id, exit.id].every((id) => listedIds(d).includes(id)));
    expect(document.relays.find((r) => r.id === middle.id)?.flags).toEqual(["Running"]);
    expect(document.relays.find((r) => r.id === exit.id)?.flags).toEqual(["Exit", "Running"]);
  });

  it("starts the uptime again after a failed test: a relay that went down is not Stable when it comes back", async () => {
    const relay = await hostedRelay();
    await relay.register();
    await consensusWhere((d) => listedIds(d).includes(relay.id));
    await upFor(relay.id, 121_000);
    expect(await flagsOf(relay.id)).toContain("Guard");
    await relay.remove();
    await consensusWhere((d) => !listedIds(d).includes(relay.id), 8);
    await relay.restore();
    await relay.register(Date.now() + 1);
    const back = await consensusWhere((d) => listedIds(d).includes(relay.id), 8);
    expect(back.relays.find((r) => r.id === relay.id)?.flags).toEqual(["Exit", "Running"]);
  });
});
