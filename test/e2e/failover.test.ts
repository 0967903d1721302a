// A dead or retired relay costs no request (issue 7, part 7): while a loop of GETs runs through the
// gateway, relays of its current circuit are retired, then a whole deployment dies and stays listed
// in the consensus until the directory prunes it. At least 99.5 % of the GETs must succeed, and
// the origin must have received every request that succeeded.

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type RelayDeployment, startRelayDeployment } from "./deployment.ts";
import { consensusDocument } from "./network.ts";
import { type Origin, startOrigin } from "./origin.ts";

const mesh = inject("mesh");
const ADMIN = { authorization: `Bearer ${mesh.adminToken}` };
const MIN_REQUESTS = 400;

let origin: Origin;
let doomed: RelayDeployment;
/** The consensus once the extra deployment had joined it. */
let listed = new Set<string>();

const listedRelays = async () => (await consensusDocument(mesh)).relays;
const listedIds = async () => (await listedRelays()).map((relay) => relay.id);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  origin = await startOrigin();
  origin.answer = { status: 200, headers: { "content-type": "text/plain" }, body: Buffer.from("served") };
  doomed = await startRelayDeployment(mesh, 3);
  const deadline = Date.now() + 30_000;
  while (!doomed.ids.every((id) => listed.has(id))) {
    if (Date.now() > deadline) throw new Error("the extra deployment's relays did not reach the consensus");
    listed = new Set(await listedIds());
    await sleep(200);
  }
}, 180_000);

afterAll(async () => {
  doomed?.kill();
  await origin?.close();
});

describe("failover at the gateway", () => {
  it("loses no GET while relays of its current circuit retire and a whole deployment dies", async () => {
    const outcomes: { i: number; status: number; body: string; path: string }[] = [];
    let running = true;
    let lastPath = "";
    const loop = (async () => {
      for (let i = 0; running || outcomes.length < MIN_REQUESTS; i++) {
        // Mostly on the reused circuit, every third on a new one (a fresh path through the consensus).
        const response = await fetch(`${mesh.urls.relay}/fetch?url=${encodeURIComponent(`${origin.url}/loop/${i}`)}`, { headers: i % 3 === 2 ? { "onion-new-circuit": "1" } : {} });
        const body = await response.text();
        const path = response.headers.get("onion-circuit") ?? "";
        if (response.status === 200) lastPath = path;
        outcomes.push({ i, status: response.status, body, path });
      }
    })();

    // Retire the entry, then the middle, then the exit of the circuit the gateway is using, twice
    // over, and put a new relay in each one's place (other test files count each deployment's relays).
    for (const position of [0, 1, 2, 0, 1, 2]) {
      await sleep(1_000);
      const victim = lastPath.split(",")[position]!;
      const address = (await listedRelays()).find((relay) => relay.id === victim)!.address;
      const base = address.slice(0, address.indexOf("/relays/"));
      expect((await fetch(`${base}/relays/${victim}`, { method: "DELETE", headers: ADMIN })).status).toBe(200);
      if (base !== doomed.url) expect((await fetch(`${base}/relays`, { method: "POST", headers: ADMIN })).status).toBe(201);
    }

    // A whole deployment dies; its relays stay in the consensus until the directory prunes them.
    await sleep(1_000);
    doomed.kill();
    const killedAt = outcomes.length;
    expect(doomed.ids.some((id) => listed.has(id))).toBe(true);
    const deadline = Date.now() + 60_000;
    while ((await listedIds()).some((id) => doomed.ids.includes(id))) {
      if (Date.now() > deadline) throw new Error("the dead deployment was never pruned");
      await sleep(500);
    }
    running = false;
    await loop;

    const failed = outcomes.filter((o) => o.status !== 200);
    const succeeded = outcomes.filter((o) => o.status === 200);
    console.log(`failover: ${outcomes.length} GETs (${outcomes.length - killedAt} after the deployment died), ${failed.length} failed`, failed.slice(0, 5));
    expect(outcomes.length).toBeGreaterThanOrEqual(MIN_REQUESTS);
    expect(outcomes.length - killedAt).toBeGreaterThan(50);
    expect(succeeded.length / outcomes.length).toBeGreaterThanOrEqual(0.995);
    // Every success is the origin's answer to that request, which the origin received.
    const seen = new Set(origin.received.map((request) => request.url));
    for (const outcome of succeeded) {
      expect(outcome.body).toBe("served");
      expect(seen.has(`/loop/${outcome.i}`), `/loop/${outcome.i}`).toBe(true);
    }
  }, 240_000);
});
