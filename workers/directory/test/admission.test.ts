import { describe, expect, it } from "vitest";
import { expectError, makeRelay, storedIds } from "./helpers.ts";

// In a file of its own: it fills the directory (MAX_RELAYS is 12 in the test config).
describe("admission", () => {
  it("stops admitting new relays at MAX_RELAYS, while known relays keep pinging", async () => {
    const first = await makeRelay();
    await first.register();
    while ((await storedIds()).length < 12) expect((await (await makeRelay()).register()).status).toBe(200);
    const late = await makeRelay();
    await expectError(await late.register(), 503, "directory_full");
    expect(await storedIds()).not.toContain(late.id);
    expect((await first.register({ published: Date.now() + 1 })).status).toBe(200);
  });

});
