import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { addRelay, relayStub } from "./helpers.ts";

// The stand-in authorities of test/origin-server.ts: "a" and "c" take descriptors at once, "slow"
// holds every request it gets and never answers.
const origin = () => (env as unknown as Cloudflare.Env).ORIGIN_URL;
type Published = { authority: string; id: string; held: boolean };
const log = async (): Promise<Published[]> => (await fetch(`${origin()}/authority/log`)).json();

async function until(test: (entries: Published[]) => boolean): Promise<Published[]> {
  for (let i = 0; i < 100; i++) {
    const entries = await log();
    if (test(entries)) return entries;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("the authorities never got the descriptor");
}

describe("publishing to every authority", () => {
  it("posts a new relay's descriptor to every authority at once: the slow one holds up neither the others nor the answer", async () => {
    const relay = await addRelay();
    expect(relay.exitPolicy).toBe("all");
    const entries = await until((e) => ["a", "c"].every((name) => e.some((x) => x.authority === name && x.id === relay.id)));
    // The slow authority got it too, and still holds the request while the others are done.
    expect(entries.find((x) => x.authority === "slow" && x.id === relay.id)).toMatchObject({ held: true });
  });

  it("sets its next heartbeat before pinging, and pings every authority at once on each heartbeat", async () => {
    const relay = await addRelay();
    await until((e) => e.filter((x) => x.id === relay.id && x.authority !== "slow").length === 2);
    const stub = relayStub(relay.id);
    const heartbeat = runDurableObjectAlarm(stub);
    // While the heartbeat waits on the slow authority, the next one is already set and the others have the ping.
    await until((e) => e.filter((x) => x.id === relay.id && x.authority === "c").length === 2);
    expect(await runInDurableObject(stub, (_i, state) => state.storage.getAlarm())).not.toBeNull();
    expect((await log()).filter((x) => x.id === relay.id && x.authority === "a")).toHaveLength(2);
    await heartbeat; // returns once the slow authority's deadline has passed
  }, 15_000);
});
