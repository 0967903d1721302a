import type { Env as RelayEnv } from "../src/env.ts";

declare global {
  namespace Cloudflare {
    interface Env extends RelayEnv {
      ORIGIN_URL: string;
      /** The hostile relay's descriptor (JSON): it answers CREATE2 and then nothing ever again. */
      TARPIT: string;
      /** Production-policy suite only: names its egress resolver maps to non-public addresses (JSON). */
      HOSTILE_NAMES?: string;
      /** The TCP servers streams reach (JSON: echo, big, flood). */
      TCP_PORTS: string;
      FLOOD_URL?: string;
    }
  }
}
