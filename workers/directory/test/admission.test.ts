import { env } from "cloudflare:workers";
import { createExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../src/index.ts";
import { PERIOD_MS, consensusWhere, expectError, hostedRelay, listedIds, madeUpRelay, nextConsensus, relayHosts, sendJson, sleep, storedIds, storedRow } from "./helpers.ts";

describe("admission: the reachability test", () => {
  it("never lists a relay whose address does not serve its key, while an honest relay of the same host is listed", async () => {
    const host = relayHosts()[0]!;
    const honest = await hostedRelay(host, "honest");
    const liars = await Promise.all(["no-descriptor", "other-descriptor", "wrong-key", "forged-reply"].map((behaviour) => hostedRelay(host, behaviour)));
    // A descriptor naming an address where no relay of that id exists, on a host that serves relays.
    const stranger = await madeUpRelay(host);
    for (const relay of [honest, ...liars]) expect((await relay.register()).status).toBe(200);
    expect((await stranger.register()).status).toBe(200);

    await consensusWhere((d) => listedIds(d).includes(honest.id));
    // Several rounds and retests later, none of them was ever listed.
    const seen = new Set<string>();
    const until = Date.now() + 4 * PERIOD_MS;
    while (Date.now() < until) {
      (await consensusWhere(() => true)).relays.forEach((r) => seen.add(r.id));
      await sleep(200);
    }
    for (const relay of [...liars, stranger]) {
      expect(seen.has(relay.id), relay.id).toBe(false);
      const row = await storedRow(relay.id);
      expect(row).toMatchObject({ running_since: null, last_failure: expect.any(String) });
      expect(Number(row!.failures)).toBeGreaterThanOrEqual(1);
    }
    expect(seen.has(honest.id)).toBe(true);
  });

  it("takes a relay out of its vote once it fails a retest", async () => {
    const relay = await hostedRelay();
    await relay.register();
    await consensusWhere((d) => listedIds(d).includes(relay.id));
    await relay.remove(); // its address stops serving it
    await relay.register(Date.now() + 1); // it still pings
    await consensusWhere((d) => !listedIds(d).includes(relay.id), 8);
    expect(await storedRow(relay.id)).toMatchObject({ running_since: null });
  });

  it("tests a relay again when its descriptor changes: a new address is never listed on the old test's word", async () => {
    const relay = await hostedRelay();
    await relay.register();
    await consensusWhere((d) => listedIds(d).includes(relay.id));
    // The relay (its own key signs it) now claims an address where nothing serves it.
    const elsewhere = `${relayHosts()[4]}/relays/${relay.id}`;
    expect((await sendJson("POST", "/descriptors", await relay.signed(Date.now() + 5, elsewhere))).status).toBe(200);
    expect(await storedRow(relay.id)).toMatchObject({ address: elsewhere, running_since: null });
    await consensusWhere((d) => !listedIds(d).includes(relay.id));
    for (let i = 0; i < 3; i++) expect(listedIds(await nextConsensus())).not.toContain(relay.id);
  });
});

describe("admission: at most K relays per deployment host", () => {
  it("votes for and lists at most 2 relays of one host, the longest up first", async () => {
    const host = relayHosts()[5]!;
    const relays = [];
    for (let i = 0; i < 4; i++) {
      const relay = await hostedRelay(host);
      await relay.register();
      relays.push(relay);
      // One after the other, so that their uptimes are ordered.
      while ((await storedRow(relay.id))?.running_since === null) await sleep(50);
      await sleep(5);
    }
    // All four passed their tests: only the limit keeps two out of the rounds that follow.
    for (const relay of relays) expect((await storedRow(relay.id))?.running_since).not.toBeNull();
    for (let round = 0; round < 2; round++) {
      const document = await nextConsensus();
      expect(document.relays.filter((r) => r.address.startsWith(`${host}/`)).map((r) => r.id).sort()).toEqual([relays[0]!.id, relays[1]!.id].sort());
    }
  });
});

describe("admission: the allowlist and the limits", () => {
  const post = (body: unknown, vars: Record<string, string>) =>
    worker.fetch(new Request("https://directory.test/descriptors", { method: "POST", body: JSON.stringify(body) }), { ...env, ...vars }, createExecutionContext());

  it("refuses relays of other hosts when ALLOWED_HOSTS names some, and takes those it names", async () => {
    const allowed = await hostedRelay(relayHosts()[1]!);
    const other = await hostedRelay(relayHosts()[2]!);
    const vars = { ALLOWED_HOSTS: `${new URL(relayHosts()[1]!).host}, closed.example` };
    await expectError(await post(await other.signed(), vars), 403, "host_not_allowed");
    expect(await storedIds()).not.toContain(other.id);
    expect((await post(await allowed.signed(), vars)).status).toBe(200);
    expect(await storedIds()).toContain(allowed.id);
  });

  it("refuses loopback and private addresses unless the dev mesh allows them", async () => {
    for (const base of ["http://127.0.0.1:8787", "http://10.0.0.7", "http://localhost"]) {
      const relay = await madeUpRelay(base);
      await expectError(await post(await relay.signed(), { ALLOW_PRIVATE_RELAY_ADDRESSES: "false" }), 400, "address_refused");
      expect(await storedIds()).not.toContain(relay.id);
    }
  });
});
