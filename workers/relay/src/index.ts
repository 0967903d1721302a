// The relay worker: relays (Durable Objects) and their cell endpoint, the admin routes that add
// and retire relays, and the public gateway /fetch. Routes validate, call the DO, shape the answer.

import { Hono } from "hono";
import * as v from "valibot";
import { CELL_CONTENT_TYPE, CLIENT_NEIGHBOUR, MAX_CELL_BYTES, NEIGHBOUR_HEADER, RelayIdSchema, exportPrivateKey, generateEd25519, logLabel, relayIdFor } from "@shallot/protocol";
import { requireAdmin } from "./admin.ts";
import { type Env, readConfig } from "./env.ts";
import { handleAuthFlow } from "./auth-proxy.ts";
import { handleGatewayFetch } from "./gateway.ts";
import { bodyRefused, errorResponse, retryLater } from "./http-error.ts";
import { readBodyCharged } from "./read-limited.ts";
import { cellCors } from "./cors.ts";
import { pageConfig } from "./page-config.ts";
import { PAGE_ROUTES, servePage } from "./page.ts";

export { GatewayState } from "./gateway-state.ts";
export { Relay } from "./relay.ts";

const app = new Hono<{ Bindings: Env }>();

function relayStub(env: Env, id: string): DurableObjectStub<import("./relay.ts").Relay> | null {
  // Each relay's object is named by its id (its identity key's fingerprint).
  return v.is(RelayIdSchema, id) ? env.RELAY.get(env.RELAY.idFromName(id)) : null;
}

const unknownRelay = () => errorResponse(404, "unknown_relay", "No relay with that id serves here.");

/** The browser page's files (workers/relay/page). */
for (const [path, file] of PAGE_ROUTES) {
  app.on(["GET", "HEAD"], path, (c) => servePage(c.req.raw, file));
  app.all(path, () => {
    const refused = errorResponse(405, "method_not_allowed", `${path} is the browser page: GET or HEAD only.`);
    refused.headers.set("allow", "GET, HEAD");
    return refused;
  });
}

app.get("/api", (c) =>
  c.json({
    service: "shallot-relay",
    endpoints: {
      "GET /": "the browser page: builds a circuit in your browser and fetches a URL through it",
      "GET /page-config": "the directory authorities (URLs and pinned keys) the page fetches and verifies the consensus with",
      "GET|HEAD|POST|PUT|PATCH|DELETE /fetch?url=<absolute URL>": "anonymous request through a 3-relay circuit",
      "POST /relays": "add a relay (admin)",
      "GET /relays/:id": "a relay's signed descriptor",
      "DELETE /relays/:id": "retire a relay (admin)",
      "POST /relays/:id/cell": "link cells between hops (binary)",
    },
  }),
);

app.get("/health", (c) => c.json({ ok: true }));

app.get("/page-config", (c) => pageConfig(c.env));

app.post("/relays", requireAdmin, async (c) => {
  const base = c.env.PUBLIC_URL?.replace(/\/+$/, "") ?? new URL(c.req.url).origin;
  // The identity key is made here because the relay's object is named by its fingerprint;
  // it goes to that object once, over RPC inside this deployment, and is never returned.
  const identity = await generateEd25519();
  const id = await relayIdFor(identity.publicKey);
  const signed = await c.env.RELAY.get(c.env.RELAY.idFromName(id)).init(`${base}/relays/${id}`, await exportPrivateKey(identity.privateKey));
  return c.json(signed.descriptor, 201);
});

app.get("/relays/:id", async (c) => {
  const stub = relayStub(c.env, c.req.param("id"));
  const signed = stub && (await stub.descriptor());
  return signed ? c.json(signed) : unknownRelay();
});

app.delete("/relays/:id", requireAdmin, async (c) => {
  const stub = relayStub(c.env, c.req.param("id"));
  if (!stub || !(await stub.retire())) return unknownRelay();
  return c.json({ id: c.req.param("id"), retired: true });
});

// A client's WebSocket link to a relay (docs/protocol.md section 4): cells both ways on one connection.
app.get("/relays/:id/link", async (c) => {
  const stub = relayStub(c.env, c.req.param("id"));
  if (!stub) return unknownRelay();
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") return errorResponse(426, "upgrade_required", "The link endpoint speaks WebSocket.");
  return stub.fetch(c.req.raw);
});

const cellTooLarge = () => errorResponse(413, "cell_too_large", "The cell is larger than the largest cell.");

app.use("/relays/:id/cell", cellCors);
app.post("/relays/:id/cell", async (c) => {
  const stub = relayStub(c.env, c.req.param("id"));
  if (!stub) return unknownRelay();
  const neighbour = c.req.header(NEIGHBOUR_HEADER) ?? CLIENT_NEIGHBOUR;
  if (neighbour !== CLIENT_NEIGHBOUR && !v.is(RelayIdSchema, neighbour)) return errorResponse(400, "invalid_neighbour", `The ${NEIGHBOUR_HEADER} header must be a relay id.`);
  const declared = Number(c.req.header("content-length") ?? Number.NaN);
  if (declared > MAX_CELL_BYTES) return cellTooLarge();
  const config = readConfig(c.env);
  // The body is held here while the relay works on it: charged to the isolate's budget as it
  // arrives (a stalled sender holds only what it sent, until the deadline).
  const read = await readBodyCharged(c.req.raw, { limit: MAX_CELL_BYTES, copies: 1, budget: config.maxInflightBytes, timeoutMs: config.bodyTimeoutMs });
  if (!read.ok) {
    return read.reason === "too_large" ? cellTooLarge() : bodyRefused(read.reason, MAX_CELL_BYTES, config.bodyTimeoutMs, "relay_busy", "This relay's worker holds too many bytes in flight; try again shortly.");
  }
  const claim = read.claim;
  try {
    let cell: Uint8Array<ArrayBuffer> | null = read.body;
    // Cloudflare sets CF-Connecting-IP on requests from the internet: clients are rate-limited by it (in memory only).
    const source = neighbour === CLIENT_NEIGHBOUR ? c.req.header("cf-connecting-ip") : undefined;
    const handling = stub.handleCell(cell, neighbour, source);
    // Handed to the relay, which charges the budget for it itself.
    cell = null;
    claim.release();
    const result = await handling;
    if (!result.ok) return retryLater(errorResponse(result.status, result.error, result.message), result.retryAfter);
    return new Response(result.cell, { headers: { "content-type": CELL_CONTENT_TYPE } });
  } finally {
    claim.release();
  }
});

app.all("/fetch", (c) => handleGatewayFetch(c.req.raw, c.env, (p) => c.executionCtx.waitUntil(p)));
app.post("/auth/register", (c) => handleAuthFlow("register", c.req.raw, c.env, (p) => c.executionCtx.waitUntil(p)));
app.post("/auth/login", (c) => handleAuthFlow("login", c.req.raw, c.env, (p) => c.executionCtx.waitUntil(p)));

app.notFound(() => errorResponse(404, "not_found", "No such route."));
app.onError((error) => {
  console.error("relay worker: unhandled", logLabel(error));
  if (error instanceof Error && /^Configuration variable/.test(error.message)) return errorResponse(503, "misconfigured", error.message);
  return errorResponse(500, "internal_error", "The relay worker failed to handle the request.");
});

export default app;
