import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { consensusWhere, directoryStub, hostedRelay, listedIds, nextConsensus, sendJson, storedIds } from "./helpers.ts";

const TTL = 30_000;

/** The alarm runs every fraction of a round; waits until it has pruned `id` (or not, after a few rounds). */
async function prunedSoon(id: string): Promise<boolean> {
  for (let i = 0; i < 30; i++) {
    await runDurableObjectAlarm(directoryStub()).catch(() => false);
    if (!(await storedIds()).includes(id)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** The relay's last_seen, or null once the alarm (which runs by itself) has pruned it. */
const lastSeen = (id: string) =>
  runInDurableObject(directoryStub(), (_i, s) => s.storage.sql.exec<{ last_seen: number }>("SELECT last_seen FROM descriptors WHERE id = ?", id).toArray()[0]?.last_seen ?? null);
/** Makes the relay look silent for `ms` more; returns its last_seen then. */
const age = (id: string, ms: number) =>
  runInDurableObject(directoryStub(), (_i, s) => s.storage.sql.exec<{ last_seen: number }>("UPDATE descriptors SET last_seen = last_seen - ? WHERE id = ? RETURNING last_seen", ms, id).toArray()[0]?.last_seen ?? null);

describe("liveness", () => {
  it("runs its rounds on the alarm without end: a new consensus every period", async () => {
    const relay = await hostedRelay();
    await relay.register();
    const first = await nextConsensus();
    const second = await nextConsensus();
    expect(second.published).toBeGreaterThan(first.published);
  });

  it("prunes a silent relay on the alarm, and it leaves the next consensus", async () => {
    const silent = await hostedRelay();
    const alive = await hostedRelay();
    await silent.register();
    await alive.register();
    await consensusWhere((d) => [silent.id, alive.id].every((id) => listedIds(d).includes(id)));
    await age(silent.id, TTL + 1);
    expect(await prunedSoon(silent.id)).toBe(true);
    const stored = await storedIds();
    expect(stored).not.toContain(silent.id);
    expect(stored).toContain(alive.id);
    const next = await nextConsensus();
    expect(listedIds(next)).not.toContain(silent.id);
    expect(listedIds(next)).toContain(alive.id);
  });

  it("leaves a relay that keeps pinging in place", async () => {
    const relay = await hostedRelay();
    await relay.register();
    await age(relay.id, TTL - 5_000);
    expect((await relay.register()).status).toBe(200); // the ping resets last_seen
    await age(relay.id, 5_000);
    expect(await prunedSoon(relay.id)).toBe(false);
  });

  it("does not let a replay of a relay's last descriptor keep it alive", async () => {
    // The alarm runs by itself and may prune the aged relay between two steps (a replay may then
    // register it afresh, which is allowed): the scenario goes again when that race happened.
    let relay: Awaited<ReturnType<typeof hostedRelay>> | undefined;
    let moved: { before: number | null; after: number | null } | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      relay = await hostedRelay();
      const signed = await relay.signed();
      const post = () => sendJson("POST", "/descriptors", signed);
      expect((await post()).status).toBe(200);
      const before = await age(relay.id, TTL + 1);
      // Someone who captured the descriptor posts it again: accepted as a retry, but not as a ping.
      await post();
      const after = await lastSeen(relay.id);
      moved = { before, after };
      if (before !== null && after === before) break;
    }
    expect(moved!.after).toBe(moved!.before);
    expect(await prunedSoon(relay!.id)).toBe(true);
  });
});
