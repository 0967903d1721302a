import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { expectError, loginWith, registerScram, registerSeed } from "./helpers.ts";

describe("failed logins per username", () => {
  it("answers the 6th failure in a minute with 429 and Retry-After, and then refuses the right password too", async () => {
    await registerSeed("limited", "pw");
    for (let i = 0; i < 5; i++) await expectError(await loginWith("limited", "wrong"), 401, "invalid_credentials");
    const sixth = await loginWith("limited", "wrong");
    const retryAfter = Number(sixth.headers.get("Retry-After"));
    await expectError(sixth, 429, "rate_limited");
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    await expectError(await loginWith("limited", "pw"), 429, "rate_limited");
  });

  it("limits each username on its own, known or not", async () => {
    await registerScram("neighbour", "pw");
    for (let i = 0; i < 5; i++) await expectError(await loginWith("limited-ghost", "x"), 401, "invalid_credentials");
    await expectError(await loginWith("limited-ghost", "x"), 429, "rate_limited");
    expect((await loginWith("neighbour", "pw")).status).toBe(200);
  });

  it("lets the user in again once the failures are a minute old, and successes do not count", async () => {
    await registerSeed("patient", "pw");
    for (let i = 0; i < 4; i++) await expectError(await loginWith("patient", "wrong"), 401, "invalid_credentials");
    for (let i = 0; i < 3; i++) expect((await loginWith("patient", "pw")).status).toBe(200);
    await expectError(await loginWith("patient", "wrong"), 401, "invalid_credentials");
    await expectError(await loginWith("patient", "pw"), 429, "rate_limited");
    await env.DB.prepare("UPDATE login_failures SET attempted_at = attempted_at - 60000 WHERE username = ?").bind("patient").run();
    expect((await loginWith("patient", "pw")).status).toBe(200);
  });

  it("cannot be slipped past with parallel attempts", async () => {
    await registerSeed("parallel", "pw");
    const responses = await Promise.all(Array.from({ length: 12 }, () => loginWith("parallel", "wrong")));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
  });
});
