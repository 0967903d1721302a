import type { Env as DirectoryEnv } from "../src/env.ts";

declare global {
  namespace Cloudflare {
    // Types `exports` from "cloudflare:workers" after the Worker under test.
    interface GlobalProps {
      mainModule: typeof import("../src/index.ts");
    }
    interface Env extends DirectoryEnv {
      /** Public half of the per-run key that vitest.config.ts generates. */
      DIRECTORY_PUBLIC_KEY_FOR_TESTS: string;
      /** JSON list of the relay hosts test/relay-hosts.ts serves on loopback. */
      RELAY_HOSTS: string;
    }
  }
}
