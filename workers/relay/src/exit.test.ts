import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { performExitRequest } from "./exit.ts";

const production = { allowPrivateDestinations: false, maxBodyBytes: 1024, exitTimeoutMs: 5_000 };
const origin = () => (env as unknown as Cloudflare.Env).ORIGIN_URL;

describe("the exit", () => {
  it("refuses loopback, private and link-local destinations under the production policy", async () => {
    for (const url of [`${origin()}/`, "http://10.0.0.1/", "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data", "http://[::1]/", "http://localhost/"]) {
      const result = await performExitRequest({ method: "GET", url, headers: [], body: new Uint8Array(0) }, production);
      expect(result, url).toMatchObject({ ok: false, error: { error: "destination_refused", status: 403 } });
    }
  });

  it("fetches a loopback origin when the deployment allows private destinations", async () => {
    const result = await performExitRequest({ method: "GET", url: `${origin()}/ok`, headers: [], body: new Uint8Array(0) }, { ...production, allowPrivateDestinations: true });
    expect(result).toMatchObject({ ok: true, response: { status: 200 } });
  });

  it("does not pass identifying or hop-by-hop headers to the origin", async () => {
    const result = await performExitRequest(
      { method: "GET", url: `${origin()}/h`, headers: [["x-forwarded-for", "10.1.2.3"], ["cf-connecting-ip", "10.1.2.3"], ["onion-new-circuit", "1"], ["x-kept", "yes"]], body: new Uint8Array(0) },
      { ...production, allowPrivateDestinations: true, maxBodyBytes: 1 << 20 },
    );
    if (!result.ok) throw new Error(result.error.message);
    const seen = JSON.parse(new TextDecoder().decode(result.response.body)).headers;
    expect(seen["x-kept"]).toBe("yes");
    expect(seen["x-forwarded-for"]).toBeUndefined();
    expect(seen["cf-connecting-ip"]).toBeUndefined();
    expect(seen["onion-new-circuit"]).toBeUndefined();
  });

  it("refuses a request body over the limit with 413 and a response over the limit with response_too_large", async () => {
    const allowed = { ...production, allowPrivateDestinations: true };
    const tooBig = await performExitRequest({ method: "POST", url: `${origin()}/`, headers: [], body: new Uint8Array(2048) }, allowed);
    expect(tooBig).toMatchObject({ ok: false, error: { error: "body_too_large", status: 413 } });
    const bigAnswer = await performExitRequest({ method: "POST", url: `${origin()}/`, headers: [], body: new Uint8Array(1000) }, allowed);
    expect(bigAnswer).toMatchObject({ ok: false, error: { error: "response_too_large" } });
  });
});
