import { env } from "cloudflare:workers";
import { type GuardState, toHex } from "@shallot/protocol";
import { describe, expect, it } from "vitest";
import { gatewayGuardStore } from "../src/gateway-state.ts";

const workerEnv = env as unknown as Cloudflare.Env;
const guard = (n: number) => ({ id: toHex(new Uint8Array(32).fill(n)), addedAt: n, downSince: null });

describe("the gateway's guards", () => {
  it("are kept in its one Durable Object, across isolates: what one saves, another loads", async () => {
    const one = gatewayGuardStore(workerEnv, 1_000);
    expect(await one.load()).toBeNull();
    const state: GuardState = { version: 1, guards: [guard(1), { ...guard(2), downSince: 5 }] };
    await one.save(state);
    expect(await gatewayGuardStore(workerEnv, 1_000).load()).toEqual(state);
  });

  it("never keeps a state that is not a valid one", async () => {
    const store = gatewayGuardStore(workerEnv, 1_000);
    const valid: GuardState = { version: 1, guards: [guard(3)] };
    await store.save(valid);
    await store.save({ version: 1, guards: [{ id: "not an id", addedAt: 0, downSince: null }] } as unknown as GuardState);
    expect(await store.load()).toEqual(valid);
  });
});
