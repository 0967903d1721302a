import { Circuit, type Descriptor, fetchTransport } from "@shallot/protocol";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { consensusDocument } from "./network.ts";
import { type Origin, startOrigin } from "./origin.ts";

const mesh = inject("mesh");
let origin: Origin;
let relays: Descriptor[];

/** A client's link: the link contract over Node's fetch, as any onion proxy sends it. */
const transport = fetchTransport({ fetch });

const inDeployment = (base: string) => relays.filter((r) => r.address.startsWith(`${base}/relays/`));

beforeAll(async () => {
  origin = await startOrigin();
  relays = (await consensusDocument(mesh)).relays;
});

afterAll(async () => {
  await origin?.close();
});

describe("relays of two deployments in one network", () => {
  it("lists the relays of both deployments in the one consensus", () => {
    expect(inDeployment(mesh.urls.relay).length).toBeGreaterThanOrEqual(3);
    expect(inDeployment(mesh.urls.second)).toHaveLength(3);
  });

  it("carries a request over a circuit that crosses from one deployment to the other and back", async () => {
    const [a1, a2] = inDeployment(mesh.urls.relay);
    const [b1, b2] = inDeployment(mesh.urls.second);
    for (const path of [
      [a1!, b1!, a2!],
      [b1!, a1!, b2!],
    ]) {
      origin.answer = { status: 200, headers: { "content-type": "text/plain" }, body: Buffer.from(`crossed ${path.map((r) => r.id.slice(0, 6)).join(">")}`) };
      const circuit = await Circuit.build(path, transport, { clock: Date.now });
      const result = await circuit.request({ method: "GET", url: `${origin.url}/cross`, headers: [], body: new Uint8Array(0) });
      await circuit.destroy();
      expect(result.ok).toBe(true);
      if (result.ok) expect(new TextDecoder().decode(result.response.body)).toBe(`crossed ${path.map((r) => r.id.slice(0, 6)).join(">")}`);
    }
  });

  it("mixes relays of both deployments in the gateway's circuits", async () => {
    origin.answer = { status: 200, headers: { "content-type": "text/plain" }, body: Buffer.from("mixed") };
    const second = new Set(inDeployment(mesh.urls.second).map((r) => r.id));
    let mixed = false;
    // The entry is the gateway's guard; a random exit and middle among the other 8 avoid the second
    // deployment with probability ~0.36 or more: 30 tries all missing is below 1e-6.
    for (let i = 0; i < 30 && !mixed; i++) {
      const response = await fetch(`${mesh.urls.relay}/fetch?url=${encodeURIComponent(`${origin.url}/mix`)}`, { headers: { "onion-new-circuit": "1" } });
      expect(await response.text()).toBe("mixed");
      const path = response.headers.get("onion-circuit")!.split(",");
      mixed = path.some((id) => second.has(id)) && path.some((id) => !second.has(id));
    }
    expect(mixed).toBe(true);
  });
});
