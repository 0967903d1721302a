// The worker's loopback service binding (ctx.exports, module form): how a relay reaches
// another relay of the same deployment without leaving the runtime.

import { exports } from "cloudflare:workers";

export const selfBinding = (): Fetcher => (exports as unknown as { default: Fetcher }).default;
