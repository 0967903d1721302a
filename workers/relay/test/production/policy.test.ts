// The production destination policy, in the real runtime: ALLOW_PRIVATE_* off, and outbound fetches
// through the egress check that refuses names resolving to non-public addresses (the same one
// `EXIT_POLICY=production npm run dev` runs). The relays live at http://relay.test (public); the
// origin, the tarpit and the directory are on loopback, so a correct policy reaches none of them.

import { env } from "cloudflare:workers";
import { Circuit, type Descriptor, EndReason, StreamMux } from "@shallot/protocol";
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
      const result = await (await circuit()).request(get(`http://${name}/named`));
      expect(result).toMatchObject({ ok: false, error: { error: "destination_refused", status: 403 } });
      expect((await originState()).origin).toEqual(before.origin);
    },
  );

  it("lets a name that resolves to a public address through the check (it then fails to connect, offline)", async () => {
    const result = await (await circuit()).request(get("http://unroutable.public.test/x"));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(["exit_fetch_failed", "exit_timeout"]).toContain(result.error.error);
  });

  it("refuses a port outside 80 and 443 at the exit", async () => {
    const result = await (await circuit()).request(get("http://unroutable.public.test:8080/x"));
    expect(result).toMatchObject({ ok: false, error: { error: "destination_refused", status: 403 } });
  });

  describe("for streams", () => {
    const tcp = (): { echo: number } => JSON.parse(testEnv().TCP_PORTS);
    const streams = async () => new StreamMux(await circuit());

    it.each([
      ["a loopback address", () => "127.0.0.1", () => tcp().echo],
      ["a loopback address on port 443", () => "127.0.0.1", () => 443],
      ["a bracketed IPv6 loopback", () => "[::1]", () => 443],
      ["localhost", () => "localhost", () => 443],
      ["a name that resolves to loopback (resolved by the exit, over DoH)", () => "loopback.evil.test", () => 443],
      ["a name that resolves to a private address", () => "lan.evil.test", () => 80],
      ["a name that resolves to a link-local address", () => "metadata.evil.test", () => 80],
      ["a public address on a port outside 80 and 443", () => "192.0.2.10", () => 22],
    ])("refuses %s with END EXITPOLICY", async (_, host, port) => {
      await expect((await streams()).open(host(), port())).rejects.toMatchObject({ name: "StreamError", reason: EndReason.EXITPOLICY });
    });

    it("lets a name that resolves to a public address through (it then cannot connect, offline)", async () => {
      const refusal: unknown = await (await streams()).open("unroutable.public.test", 443).catch((error: unknown) => error);
      expect(refusal).toMatchObject({ name: "StreamError" });
      expect((refusal as { reason: number }).reason).not.toBe(EndReason.EXITPOLICY);
    }, 20_000);
  });

  it("refuses to EXTEND2 to a relay address on loopback: not one cell reaches it", async () => {
    const [entry, middle] = await addRelays(2);
    const creates = (await originState()).tarpit.creates;
    await expect(Circuit.build([entry!, middle!, tarpit()], clientTransport, { clock: Date.now })).rejects.toMatchObject({ code: "extend_failed", message: expect.stringMatching(/policy/) });
    expect((await originState()).tarpit.creates).toBe(creates);
  });
});
