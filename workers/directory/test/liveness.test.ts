import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { consensusIds, directoryStub, makeRelay, sendJson, storedIds } from "./helpers.ts";

const TTL = 30_000;

const lastSeen = (id: string) =>
  runInDurableObject(directoryStub(), (_i, s) => s.storage.sql.exec<{ last_seen: number }>("SELECT last_seen FROM relays WHERE id = ?", id).one().last_seen);
const age = (id: string, ms: number) =>
  runInDurableObject(directoryStub(), (_i, s) => void s.storage.sql.exec("UPDATE relays SET last_seen = last_seen - ? WHERE id = ?", ms, id));
const alarm = () => runInDurableObject(directoryStub(), (_i, s) => s.storage.getAlarm());

describe("liveness", () => {
  it("arms the alarm when the first descriptor arrives", async () => {
    const relay = await makeRelay();
    await relay.register();
    expect(await alarm()).toBe((await lastSeen(relay.id)) + TTL);
  });

  it("prunes a silent relay on the alarm and re-arms for the one that remains", async () => {
    // Start from exactly two relays, so the re-armed alarm can only be the live one's deadline.
    await runInDurableObject(directoryStub(), (_i, s) => void s.storage.sql.exec("DELETE FROM relays"));
    const silent = await makeRelay();
    const alive = await makeRelay();
    await silent.register();
    await alive.register();
    expect(await consensusIds()).toEqual(expect.arrayContaining([silent.id, alive.id]));
    await age(silent.id, TTL + 1);

    expect(await runDurableObjectAlarm(directoryStub())).toBe(true);
    // Checked in storage first: GET /consensus also prunes, so it alone would not prove the alarm ran.
    const stored = await storedIds();
    expect(stored).not.toContain(silent.id);
    expect(stored).toContain(alive.id);
    expect(await alarm()).toBe((await lastSeen(alive.id)) + TTL);

    const listed = await consensusIds();
    expect(listed).not.toContain(silent.id);
    expect(listed).toContain(alive.id);
  });

  it("leaves a relay that keeps pinging in place", async () => {
    const relay = await makeRelay();
    await relay.register();
    await age(relay.id, TTL - 5_000);
    expect((await relay.register()).status).toBe(200); // the ping resets last_seen
    await age(relay.id, 5_000);
    await runDurableObjectAlarm(directoryStub());
    expect(await storedIds()).toContain(relay.id);
  });

  it("drops a dead relay from the consensus even before the alarm fires", async () => {
    const relay = await makeRelay();
    await relay.register();
    expect(await consensusIds()).toContain(relay.id);
    await age(relay.id, TTL + 1);
    expect(await consensusIds()).not.toContain(relay.id);
  });

  it("clears the alarm once nothing is left to prune", async () => {
    for (const id of await storedIds()) await age(id, TTL + 1);
    await runInDurableObject(directoryStub(), (_i, s) => void s.storage.sql.exec("DELETE FROM retirements"));
    expect(await runDurableObjectAlarm(directoryStub())).toBe(true);
    expect(await storedIds()).toEqual([]);
    expect(await alarm()).toBeNull();
  });

  it("does not let a replay of a relay's last descriptor keep it alive", async () => {
    const relay = await makeRelay();
    const signed = await relay.signed();
    const post = () => sendJson("POST", "/descriptors", signed);
    expect((await post()).status).toBe(200);
    await age(relay.id, TTL + 1);
    const before = await lastSeen(relay.id);
    // Someone who captured the descriptor posts it again: accepted as a retry, but not as a ping.
    expect((await post()).status).toBe(200);
    expect(await lastSeen(relay.id)).toBe(before);
    await runDurableObjectAlarm(directoryStub());
    expect(await storedIds()).not.toContain(relay.id);
  });
});
