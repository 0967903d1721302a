import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { verifyConsensus } from "@shallot/protocol";
import { describe, expect, it } from "vitest";
import { call, directoryPublicKey, directoryStub, fetchConsensus, makeRelay, verifiedConsensus } from "./helpers.ts";

const cachedPublished = () =>
  runInDurableObject(directoryStub(), (_i, state) => state.storage.sql.exec<{ published: number }>("SELECT published FROM consensus_cache").one().published);

describe("registration and the consensus", () => {
  it("lists a registered relay in a consensus that verifies under the directory key", async () => {
    const relay = await makeRelay();
    const descriptor = relay.descriptor();
    const response = await relay.register(descriptor);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: relay.id, ttlMs: 30_000, pingIntervalMs: 10_000 });

    const { signed, document } = await verifiedConsensus();
    expect(document.relays).toContainEqual(descriptor);
    expect(document.validUntil - document.published).toBe(30_000);
    expect((await call("/consensus")).headers.get("cache-control")).toBe("no-store");

    const altered = { ...signed, document: signed.document.replace(relay.address, `https://evil.test/relays/${relay.id}`) };
    expect(altered.document).not.toBe(signed.document);
    await expect(verifyConsensus(altered, directoryPublicKey(), Date.now())).rejects.toMatchObject({ code: "bad_signature" });
  });

  it("lets any origin read the consensus (CORS), since it is public and signed", async () => {
    const response = await call("/consensus", { headers: { origin: "http://page.test" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("sorts the relays by id", async () => {
    for (let i = 0; i < 3; i++) await (await makeRelay()).register();
    const ids = (await verifiedConsensus()).document.relays.map((r) => r.id);
    expect(ids.length).toBeGreaterThanOrEqual(3);
    expect(ids).toEqual([...ids].sort());
  });

  it("keeps the cached consensus across a ping that changes only `published`", async () => {
    const relay = await makeRelay();
    await relay.register({ published: Date.now() - 1000 });
    const before = await fetchConsensus();
    const seenBefore = await runInDurableObject(directoryStub(), (_i, s) => s.storage.sql.exec<{ last_seen: number }>("SELECT last_seen FROM relays WHERE id = ?", relay.id).one().last_seen);

    await new Promise((resolve) => setTimeout(resolve, 20));
    const ping = await relay.register({ published: Date.now() });
    expect(ping.status).toBe(200);
    const seenAfter = await runInDurableObject(directoryStub(), (_i, s) => s.storage.sql.exec<{ last_seen: number }>("SELECT last_seen FROM relays WHERE id = ?", relay.id).one().last_seen);
    expect(seenAfter).toBeGreaterThan(seenBefore);
    expect(await fetchConsensus()).toEqual(before);
  });

  it("regenerates the consensus when a relay's address changes", async () => {
    const relay = await makeRelay();
    await relay.register();
    await fetchConsensus();
    await relay.register({ address: `https://moved.test/relays/${relay.id}` });
    const { document } = await verifiedConsensus();
    expect(document.relays.find((r) => r.id === relay.id)?.address).toBe(`https://moved.test/relays/${relay.id}`);
  });

  it("regenerates the consensus once it is older than a third of the TTL", async () => {
    await (await makeRelay()).register();
    await fetchConsensus();
    const aged = Date.now() - 11_000;
    await runInDurableObject(directoryStub(), (_i, s) => void s.storage.sql.exec("UPDATE consensus_cache SET published = ?", aged));
    const { document } = await verifiedConsensus();
    expect(await cachedPublished()).toBe(document.published);
    expect(document.published).toBeGreaterThan(aged);
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
