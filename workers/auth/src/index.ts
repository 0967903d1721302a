// Placeholder for the authentication server: it answers so the dev mesh is complete,
// and says plainly that the challenge-response API is not built yet.

import { Hono } from "hono";

const app = new Hono();

app.get("/health", (c) => c.json({ ok: true }));
app.get("/", (c) => c.json({ service: "shallot-auth", status: "not_implemented", message: "The authentication server is not built yet." }));
app.notFound((c) => c.json({ error: "not_implemented", message: "The authentication server is not built yet." }, 501));
app.onError((_, c) => c.json({ error: "internal_error", message: "The auth server failed to handle the request." }, 500));

export default app;
