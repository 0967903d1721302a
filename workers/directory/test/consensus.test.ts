import { env } from "cloudflare:workers";
import { serializeConsensus, verifyConsensus } from "@shallot/protocol";
import { describe, expect, it } from "vitest";
import { PERIOD_MS, call, consensusWhere, fetchConsensus, hostedRelay, listedIds, pinned } from "./helpers.ts";

describe("the consensus", () => {
  it("lists a relay once it passed its reachability test, signed by the authority, with Running and Exit", async () => {
    const relay = await hostedRelay();
    const response = await relay.register();
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: relay.id, ttlMs: 30_000, pingIntervalMs: 10_000 });

    const document = await consensusWhere((d) => listedIds(d).includes(relay.id));
    const listed = document.relays.find((r) => r.id === relay.id)!;
    expect(listed).toMatchObject({ address: relay.address, exitPolicy: "all", flags: ["Exit", "Running"] });
    // The round's start, the same on every authority; valid for three rounds.
    expect(document.published % PERIOD_MS).toBe(0);
    expect(document.validUntil - document.published).toBe(3 * PERIOD_MS);
    expect(document.voters).toEqual(pinned());
    // The authority tested it: one CREATE2, and the test's link was destroyed.
    const stats = await relay.stats();
    expect(stats.creates).toBeGreaterThanOrEqual(1);
    expect(stats.circuits).toBe(0);
  });

  it("is served with the authority's signature over the exact document text, which a change breaks", async () => {
    const relay = await hostedRelay();
    await relay.register();
    await consensusWhere((d) => listedIds(d).includes(relay.id));
    const signed = await fetchConsensus();
    expect(signed.signatures.map((s) => s.authority)).toEqual(pinned());
    expect(serializeConsensus(JSON.parse(signed.document))).toBe(signed.document);
    const altered = { ...signed, document: signed.document.replace(relay.address, `https://evil.test/relays/${relay.id}`) };
    expect(altered.document).not.toBe(signed.document);
    await expect(verifyConsensus(altered, pinned(), Date.now())).rejects.toMatchObject({ code: "bad_signature" });
    expect((await call("/consensus")).headers.get("cache-control")).toBe("no-store");
  });

  it("serves each round's consensus, the votes of a round and its own latest vote", async () => {
    const relay = await hostedRelay();
    await relay.register();
    const document = await consensusWhere((d) => listedIds(d).includes(relay.id));
    const ofRound = await call(`/consensus/${document.published}`);
    expect(ofRound.status).toBe(200);
    expect(JSON.parse(((await ofRound.json()) as { document: string }).document).published).toBe(document.published);
    const votes = (await (await call(`/votes/${document.published}`)).json()) as { document: string }[];
    expect(votes).toHaveLength(1);
    expect(JSON.parse(votes[0]!.document)).toMatchObject({ version: 1, authority: pinned()[0], published: document.published });
    expect(JSON.parse(votes[0]!.document).relays.map((r: { id: string }) => r.id)).toContain(relay.id);
    const own = await call("/vote");
    expect(own.status).toBe(200);
    expect((await call("/consensus/12345")).status).toBe(404);
    expect((await call("/consensus/soon")).status).toBe(400);
  });

  it("lets any origin read the consensus (CORS), since it is public and signed", async () => {
    await consensusWhere(() => true);
    const response = await call("/consensus", { headers: { origin: "http://page.test" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("sorts the relays by id", async () => {
    const relays = await Promise.all([1, 2, 3].map(() => hostedRelay()));
    for (const relay of relays) await relay.register();
    const document = await consensusWhere((d) => relays.every((r) => listedIds(d).includes(r.id)));
    expect(listedIds(document)).toEqual([...listedIds(document)].sort());
  });

  it("publishes its public key", async () => {
    const response = await call("/key");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ algorithm: "Ed25519", publicKey: env.DIRECTORY_PUBLIC_KEY_FOR_TESTS });
  });

  it("answers /health", async () => {
    const response = await call("/health");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
  });
});
