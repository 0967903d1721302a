import type { Env as RelayEnv } from "../src/env.ts";

declare global {
  namespace Cloudflare {
    interface Env extends RelayEnv {
      ORIGIN_URL: string;
    }
  }
}
