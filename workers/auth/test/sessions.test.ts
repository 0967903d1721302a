import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, dbSnapshot, expectError, loginToken, registerSeed, shaHex } from "./helpers.ts";

describe("GET /me and tokens", () => {
  it("answers the token's user with a good token", async () => {
    await registerSeed("meg", "pw", "sha384");
    const token = await loginToken("meg", "pw");
    const response = await call("/me", { headers: { Authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ username: "meg", mechanism: "sha384" });
  });

  it("refuses a missing header, another scheme, garbage and an unknown well-formed token", async () => {
    const before = await dbSnapshot();
    for (const headers of <Record<string, string>[]>[{}, { Authorization: "Basic bWVnOnB3" }, { Authorization: "Bearer" }, { Authorization: "Bearer ' OR 1=1 --" }, { Authorization: `Bearer ${"A".repeat(43)}` }, { Authorization: `Bearer ${"x".repeat(5000)}` }]) {
      const response = await call("/me", { headers });
      expect(response.headers.get("WWW-Authenticate")).toContain("Bearer");
      await expectError(response, 401, "invalid_token");
    }
    expect(await dbSnapshot()).toEqual(before);
  });

  it("refuses an expired token", async () => {
    await registerSeed("expiring", "pw");
    const token = await loginToken("expiring", "pw");
    const hash = await shaHex("sha256", token);
    const row = await env.DB.prepare("SELECT created_at, expires_at FROM sessions WHERE token_hash = ?").bind(hash).first<{ created_at: number; expires_at: number }>();
    expect(row!.expires_at - row!.created_at).toBe(3_600_000);
    await env.DB.prepare("UPDATE sessions SET expires_at = ? WHERE token_hash = ?").bind(Date.now() - 1, hash).run();
    await expectError(await call("/me", { headers: { Authorization: `Bearer ${token}` } }), 401, "invalid_token");
  });
});
