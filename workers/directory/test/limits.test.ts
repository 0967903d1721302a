import { describe, expect, it } from "vitest";
import { expectError, hostedRelay, madeUpRelay, storedIds, storedRow, sleep } from "./helpers.ts";

// In a file of its own: it fills the table (MAX_RELAYS is 12 in the test config).
describe("the table's limit", () => {
  it("makes room for a new relay by dropping one that never passed a test, and is full only of relays that did", async () => {
    const unproven = [];
    for (let i = 0; i < 12; i++) {
      const relay = await madeUpRelay();
      expect((await relay.register()).status).toBe(200);
      unproven.push(relay);
    }
    expect(await storedIds()).toHaveLength(12);
    // A flood does not lock honest relays out: each newcomer takes an untested one's place.
    const honest = [];
    for (let i = 0; i < 12; i++) {
      const relay = await hostedRelay();
      expect((await relay.register()).status).toBe(200);
      honest.push(relay);
    }
    for (const relay of honest) while ((await storedRow(relay.id))?.running_since == null) await sleep(50);
    expect((await storedIds()).sort()).toEqual(honest.map((r) => r.id).sort());
    // Now every row passed its test: a thirteenth relay is refused, and the known ones keep pinging.
    await expectError(await (await madeUpRelay()).register(), 503, "directory_full");
    expect((await honest[0]!.register(Date.now() + 1)).status).toBe(200);
  });
});
