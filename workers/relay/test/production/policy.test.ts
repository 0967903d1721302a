// The production destination policy, in the real runtime: ALLOW_PRIVATE_* off, and outbound fetches
// through the egress check that refuses names resolving to non-public addresses (the same one
// `EXIT_POLICY=production npm run dev` runs). The relays live at http://relay.test (public); the
// origin, the tarpit and the directory are on loopback, so a correct policy reaches none of them.

import { env } from "cloudflare:workers";
import { Circuit, type Descriptor } from "@shallot/protocol";
import { describe, expect, it } from "vitest";
import { addRelays, clientTransport } from "../helpers.ts";

const testEnv = () => env as unknown as Cloudflare.Env;
const originUrl = () => new URL(testEnv().ORIGIN_URL);
const tarpit = (): Descriptor => JSON.parse(testEnv().TARPIT);
const hostileNames = (): Record<string, string> => JSON.parse(testEnv().HOSTILE_NAMES ?? "{}");
const originState = async (): Promise<{ origin: Record<string, number>; tarpit: { creates: number } }> => (await fetch(`${originUrl().origin}/control/state`)).json();

async function circuit() {
  return Circuit.build(await addRelays(3), clientTransport, { clock: Date.now });
}
const get = (url: string) => ({ method: "GET" as const, url, headers: [] as [string, string][], body: new Uint8Array(0) });

describe("the production destination policy", () => {
  const port = () => originUrl().port;

  it.each([
    ["loopback by address", () => `http://127.0.0.1:${port()}/a`],
    ["loopback by a decimal address", () => `http://2130706433:${port()}/b`],
    ["IPv6 loopback", () => `http://[::1]:${port()}/c`],
    ["an IPv4-mapped IPv6 loopback", () => `http://[::ffff:127.0.0.1]:${port()}/d`],
    ["localhost", () => `http://localhost:${port()}/e`],
    ["the link-local metadata address", () => "http://169.254.169.254/latest/meta-data/"],
  ])("refuses %s at the exit, and nothing reaches the origin", async (_, url) => {
    const before = await originState();
    const result = await (await circuit()).request(get(url()));
    expect(result).toMatchObject({ ok: false, error: { error: "destination_refused", status: 403 } });
    expect((await originState()).origin).toEqual(before.origin);
  });

  it.each(Object.entries({ "loopback.evil.test": 0, "loopback6.evil.test": 0, "metadata.evil.test": 0, "lan.evil.test": 0, "mapped.evil.test": 0 }))(
    "refuses the name %s, which resolves to a non-public address, at connection time",
    async (name) => {
      expect(hostileNames()[name]).toBeDefined();
      const before = await originState();
      const result = await (await circuit()).request(get(`http://${name}:${port()}/named`));
      expect(result).toMatchObject({ ok: false, error: { error: "destination_refused", status: 403 } });
      expect((await originState()).origin).toEqual(before.origin);
    },
  );

  it("lets a name that resolves to a public address through the check (it then fails to connect, offline)", async () => {
    const result = await (await circuit()).request(get(`http://unroutable.public.test:${port()}/x`));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(["exit_fetch_failed", "exit_timeout"]).toContain(result.error.error);
  });

  it("refuses to EXTEND2 to a relay address on loopback: not one cell reaches it", async () => {
    const [entry, middle] = await addRelays(2);
    const creates = (await originState()).tarpit.creates;
    await expect(Circuit.build([entry!, middle!, tarpit()], clientTransport, { clock: Date.now })).rejects.toMatchObject({ code: "extend_failed", message: expect.stringMatching(/policy/) });
    expect((await originState()).tarpit.creates).toBe(creates);
  });
});
