import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

const call = (path: string, init?: RequestInit) => (exports as unknown as { default: Fetcher }).default.fetch(`http://auth.test${path}`, init);

describe("the auth server placeholder", () => {
  it("answers health checks so the dev mesh can wait for it", async () => {
    const response = await call("/health");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
  });

  it("says plainly, as JSON, that the challenge-response API is not built yet", async () => {
    const response = await call("/login", { method: "POST", body: "{}" });
    expect(response.status).toBe(501);
    expect(await response.json()).toMatchObject({ error: "not_implemented" });
  });
});
