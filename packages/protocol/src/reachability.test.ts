import { describe, expect, it } from "vitest";
import { fetchTransport } from "./link.ts";
import { testReachability } from "./reachability.ts";
import { TestRelayHost, type TestRelayBehaviour } from "./testing/relay-host.ts";

/** An authority's view of one relay host, in process: GET the address, POST cells to it. */
function prober(host: TestRelayHost) {
  return {
    fetchDescriptor: async (address: string) => {
      const response = await host.handle(new Request(address));
      if (!response.ok) throw new Error(`answered ${response.status}`);
      return response.json();
    },
    transport: fetchTransport({ fetch: (url, init) => host.handle(new Request(url, init)) }),
    clock: () => performance.now(),
  };
}

describe("testReachability", () => {
  it("passes a relay whose address serves its descriptor and answers CREATE2 with its published onion key, then destroys the test link", async () => {
    const host = new TestRelayHost("https://relays.test");
    const relay = await host.add("honest");
    const result = await testReachability((await relay.signed()).descriptor, prober(host));
    expect(result).toMatchObject({ ok: true });
    expect(relay.creates).toBe(1);
    expect(relay.circuits()).toBe(0);
  });

  it.each<[TestRelayBehaviour, RegExp]>([
    ["no-descriptor", /GET of the address failed/],
    ["other-descriptor", /serves another relay/],
    ["wrong-key", /CREATE2 with the published onion key failed/],
    ["forged-reply", /CREATE2 with the published onion key failed/],
  ])("fails a relay whose address does not serve its key (%s)", async (behaviour, reason) => {
    const host = new TestRelayHost("https://relays.test");
    await host.add("honest");
    const relay = await host.add(behaviour);
    const result = await testReachability((await relay.signed()).descriptor, prober(host));
    expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(reason) });
    expect(relay.circuits()).toBe(0);
  });

  it("fails a descriptor that names an address where no such relay is", async () => {
    const host = new TestRelayHost("https://relays.test");
    const elsewhere = new TestRelayHost("https://elsewhere.test");
    const relay = await elsewhere.add("honest");
    expect(await testReachability((await relay.signed()).descriptor, prober(host))).toMatchObject({ ok: false });
  });

  it("fails a relay that serves its descriptor with another exit policy or address than the one it posted", async () => {
    const host = new TestRelayHost("https://relays.test");
    const relay = await host.add("honest", "none");
    const posted = (await relay.signed()).descriptor;
    expect(await testReachability({ ...posted, exitPolicy: "all" }, prober(host))).toMatchObject({ ok: false, reason: expect.stringMatching(/another relay, address, key or exit policy/) });
  });
});
