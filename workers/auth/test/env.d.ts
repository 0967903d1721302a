import type { D1Migration } from "cloudflare:test";
import type { Env as AuthEnv } from "../src/env.ts";

declare global {
  namespace Cloudflare {
    // Types `exports` from "cloudflare:workers" after the Worker under test.
    interface GlobalProps {
      mainModule: typeof import("../src/index.ts");
    }
    interface Env extends AuthEnv {
      /** Public half (base64url) of the per-run key that vitest.config.ts generates. */
      AUTH_HPKE_PUBLIC_KEY_FOR_TESTS: string;
      TEST_MIGRATIONS: D1Migration[];
    }
  }
}
