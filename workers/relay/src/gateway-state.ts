// The gateway's state across isolates and restarts: its entry guards. The gateway itself is a
// stateless worker (one OnionProxy per isolate), so it keeps them in this one Durable Object.

import { DurableObject } from "cloudflare:workers";
import { type GuardState, type GuardStore, parseGuardState, withDeadline } from "@shallot/protocol";
import type { Env } from "./env.ts";

const GUARDS_KEY = "guards";

export class GatewayState extends DurableObject<Env> {
  async loadGuards(): Promise<GuardState | null> {
    return parseGuardState(await this.ctx.storage.get(GUARDS_KEY));
  }

  async saveGuards(state: GuardState): Promise<void> {
    const valid = parseGuardState(state);
    if (valid) await this.ctx.storage.put(GUARDS_KEY, valid);
  }
}

/** The gateway's GuardStore: its one GatewayState object, each call within `timeoutMs`. */
export function gatewayGuardStore(env: Env, timeoutMs: number): GuardStore {
  const stub = () => env.GATEWAY.get(env.GATEWAY.idFromName("gateway"));
  return {
    load: () => withDeadline(timeoutMs, async () => (await stub().loadGuards()) as GuardState | null),
    save: (state) => withDeadline(timeoutMs, async () => stub().saveGuards(state)),
  };
}
