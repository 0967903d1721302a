import { describe, expect, it } from "vitest";
import { fromHex, toBase64Url, toHex, utf8 } from "./bytes.ts";
import type { ExitResult } from "./client.ts";
import type { ConsensusDocument, ListedRelay } from "./consensus.ts";
import { ProtocolError, isProtocolError } from "./errors.ts";
import type { HttpRequestMessage } from "./http-message.ts";
import { LinkError, cellErrorStatus, errorBody, fetchTransport, NEIGHBOUR_HEADER } from "./link.ts";
import { MemoryRelayTables } from "./memory-tables.ts";
import { memoryGuardStore } from "./guards.ts";
import { type AttemptFailure, CircuitBuildError, MAX_ATTEMPTS, OnionProxy, RELAY_DOWN_MS, RELAY_SUSPECT_MS, buildFailure, mayRetry, requestFailure } from "./onion-proxy.ts";
import { CLIENT_NEIGHBOUR, RelayEngine } from "./relay-engine.ts";
import { ExitStreams } from "./exit-streams.ts";
import { generateX25519 } from "./x25519.ts";

// A whole network in memory: relays are real RelayEngines (real crypto) behind an in-memory fetch
// that speaks the link contract, grouped in deployments that can die; a directory that lists whom
// the test says; an origin that counts what reaches it.

interface MemoryRelay {
  descriptor: ListedRelay;
  engine: RelayEngine;
  tables: MemoryRelayTables;
  deployment: string;
  retired: boolean;
  /** The relay's address stops answering (its process is gone). */
  dead: boolean;
  /** Its next answer is lost on the way back (the connection drops after it acted). */
  dropNextAnswer: boolean;
}

const refused = () => Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } });
/** As the CLI reads Node's errors: a refused connection certainly delivered nothing. */
const networkFailure = (error: unknown) =>
  (error as { cause?: { code?: string } }).cause?.code === "ECONNREFUSED" ? ({ code: "relay_unreachable", words: "could not be reached" } as const) : ({ code: "link_failed", words: "dropped the connection" } as const);

async function network(layout: Record<string, number>) {
  const relays = new Map<string, MemoryRelay>();
  const deadDeployments = new Set<string>();
  const origin: HttpRequestMessage[] = [];
  /** Called after the exit performed a request: lets a test break the way back. */
  let afterExit: (exit: MemoryRelay) => void = () => {};

  const fetch = async (url: string, init: RequestInit): Promise<Response> => {
    const { origin: base, pathname } = new URL(url);
    if (deadDeployments.has(base)) throw refused();
    const match = /^\/relays\/([0-9a-f]{64})\/cell$/.exec(pathname);
    const relay = match ? relays.get(match[1]!) : undefined;
    if (relay?.dead) throw refused();
    if (!relay || relay.retired) return Response.json(errorBody("unknown_relay", "No relay with that id serves here."), { status: 404 });
    const neighbour = (init.headers as Record<string, string>)[NEIGHBOUR_HEADER] ?? CLIENT_NEIGHBOUR;
    let answer: Uint8Array;
    try {
      answer = await relay.engine.handle(init.body as Uint8Array<ArrayBuffer>, neighbour);
      if (relay.dropNextAnswer) {
        relay.dropNextAnswer = false;
        throw Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNRESET" } });
      }
      return new Response(answer as Uint8Array<ArrayBuffer>);
    } catch (error) {
      if (isProtocolError(error)) return Response.json(errorBody(error.code, error.message), { status: cellErrorStatus(error.code) });
      return Response.json(errorBody("internal_error", "failed"), { status: 500 });
    }
  };

  for (const [deployment, count] of Object.entries(layout)) {
    for (let i = 0; i < count; i++) {
      const id = toHex(crypto.getRandomValues(new Uint8Array(32)));
      const onionKey = await generateX25519();
      const tables = new MemoryRelayTables();
      const relay: MemoryRelay = {
        descriptor: { id, address: `${deployment}/relays/${id}`, onionKey: toBase64Url(onionKey.publicKey), identityKey: toBase64Url(new Uint8Array(32)), exitPolicy: "all", published: 0, flags: ["Exit", "Guard", "Running", "Stable"] },
        tables,
        deployment,
        retired: false,
        dead: false,
        dropNextAnswer: false,
        engine: undefined as unknown as RelayEngine,
      };
      relay.engine = new RelayEngine({
        identity: { id, relayId: fromHex(id), onionKey },
        tables,
        clock: () => 0,
        link: fetchTransport({ fetch, neighbour: id, networkFailure }),
        // Streams to a server that accepts and never sends: enough to open and end them.
        streams: new ExitStreams({
          connect: async () => ({ read: () => new Promise(() => {}), write: async () => {}, close: () => {} }),
          policy: () => null,
          clock: () => 0,
          timer: () => () => {},
          holdMs: 200,
          connectTimeoutMs: 5_000,
          idleMs: 60_000,
          maxStreamsPerCircuit: 64,
          maxStreams: 256,
        }),
        exit: async (request) => {
          origin.push(request);
          afterExit(relay);
          return { ok: true, response: { status: 200, statusText: "OK", headers: [], body: utf8(`served ${request.method} ${request.url}`) } };
        },
      });
      relays.set(id, relay);
    }
  }

  let now = 1_000_000;
  let published = now;
  /** Who the directory lists: everyone not retired (a dead relay stays listed until its TTL). */
  const listed = () => [...relays.values()].filter((relay) => !relay.retired).map((relay) => relay.descriptor);
  let directory: () => ConsensusDocument = () => ({ version: 2, published: ++published, validUntil: now + 30_000, voters: [], relays: listed() });
  let consensusFetches = 0;

  return {
    relays: [...relays.values()],
    origin,
    fetch,
    clock: () => now,
    advance: (ms: number) => void (now += ms),
    consensusFetches: () => consensusFetches,
    setDirectory: (serve: () => ConsensusDocument) => void (directory = serve),
    listed,
    setAfterExit: (hook: (exit: MemoryRelay) => void) => void (afterExit = hook),
    relay: (id: string) => relays.get(id)!,
    retire: async (id: string) => {
      const relay = relays.get(id)!;
      relay.retired = true;
      // As Relay.retire: every circuit torn down (DESTROY onwards), then all state gone.
      for (const key of [...relay.tables.keys.values()]) await relay.engine.destroy(key.linkId, key.neighbour, 9);
    },
    killDeployment: (base: string) => void deadDeployments.add(base),
    proxy: (options: Partial<ConstructorParameters<typeof OnionProxy>[0]> = {}) =>
      new OnionProxy({
        transport: fetchTransport({ fetch, networkFailure }),
        consensus: async () => {
          consensusFetches++;
          return directory();
        },
        clock: () => now,
        // These tests are about failures, on deployments of many relays: the family rule has its own.
        familyRule: false,
        ...options,
      }),
  };
}

const get = (path: string, method: HttpRequestMessage["method"] = "GET"): HttpRequestMessage => ({ method, url: `http://origin.test${path}`, headers: [], body: utf8(method === "GET" ? "" : "body") });
const served = ({ result }: { result: ExitResult }) => (result.ok ? new TextDecoder().decode(result.response.body) : null);

describe("OnionProxy: requests through circuits", () => {
  it("carries a request through three distinct relays, reuses the circuit within the window and builds a new one after", async () => {
    const net = await network({ "http://a.test": 5 });
    const proxy = net.proxy({ reuseMs: 10_000 });
    const first = await proxy.request(get("/1"));
    expect(served(first)).toBe("served GET http://origin.test/1");
    expect(new Set(first.path).size).toBe(3);
    expect(first).toMatchObject({ reused: false, attempts: 1 });
    net.advance(9_999);
    const second = await proxy.request(get("/2"));
    expect(second).toMatchObject({ reused: true, path: first.path });
    net.advance(1);
    expect((await proxy.request(get("/3"))).reused).toBe(false);
    expect((await proxy.request(get("/4"), { fresh: true })).reused).toBe(false);
    expect(net.origin.map((request) => request.url)).toEqual(["/1", "/2", "/3", "/4"].map((p) => `http://origin.test${p}`));
  });

  it("carries on across the retirement of each hop of its current circuit: no request fails, and the new circuit avoids the relay", async () => {
    for (const position of [0, 1, 2]) {
      const net = await network({ "http://a.test": 6 });
      const proxy = net.proxy();
      const before = await proxy.request(get("/before"));
      const victim = before.path[position]!;
      await net.retire(victim);
      const after = await proxy.request(get("/after"));
      expect(served(after), `position ${position}`).toBe("served GET http://origin.test/after");
      expect(after.path).not.toContain(victim);
      expect(after.reused).toBe(false);
      // The directory no longer lists it, and later circuits never pick it.
      for (let i = 0; i < 10; i++) expect((await proxy.request(get("/later"), { fresh: true })).path).not.toContain(victim);
    }
  });

  it("carries on when a relay of its circuit dies (stops answering), and builds around it while it is listed", async () => {
    for (const position of [0, 1, 2]) {
      const net = await network({ "http://a.test": 6 });
      const proxy = net.proxy();
      const before = await proxy.request(get("/before"));
      const victim = before.path[position]!;
      net.relay(victim).dead = true;
      expect(served(await proxy.request(get("/after"))), `position ${position}`).toBe("served GET http://origin.test/after");
      expect(net.listed().map((r) => r.id)).toContain(victim);
      for (let i = 0; i < 20; i++) {
        const response = await proxy.request(get(`/fresh/${i}`), { fresh: true });
        expect(served(response)).toBe(`served GET http://origin.test/fresh/${i}`);
        expect(response.path).not.toContain(victim);
      }
    }
  });

  it("loses no request while a dead deployment is still listed in the consensus, and marks its relays down as it meets them", async () => {
    const net = await network({ "http://a.test": 6, "http://b.test": 3 });
    const proxy = net.proxy();
    const dead = net.relays.filter((relay) => relay.deployment === "http://b.test").map((relay) => relay.descriptor.id);
    net.killDeployment("http://b.test");
    let retried = 0;
    for (let i = 0; i < 60; i++) {
      const response = await proxy.request(get(`/n/${i}`), { fresh: i % 2 === 0 });
      expect(served(response)).toBe(`served GET http://origin.test/n/${i}`);
      for (const id of response.path) expect(dead).not.toContain(id);
      if (response.attempts > 1) retried++;
    }
    // Each dead relay costs at most one failed build before it is avoided.
    expect(retried).toBeGreaterThan(0);
    expect(retried).toBeLessThanOrEqual(dead.length);
    const { down } = proxy.avoided();
    for (const id of down) expect(dead).toContain(id);
  });

  it("fails without retrying a POST whose outcome is unknown (DESTROY after the exit acted): the origin got it exactly once", async () => {
    const net = await network({ "http://a.test": 6 });
    const proxy = net.proxy();
    await proxy.request(get("/warm"));
    // The exit acts, then its link back to the middle drops: the middle tears down, the entry answers DESTROY.
    net.setAfterExit((exit) => void (exit.dropNextAnswer = true));
    const before = net.origin.length;
    const failure = await proxy.request(get("/post", "POST")).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: "circuit_destroyed" });
    expect(net.origin.length - before).toBe(1);
    expect(net.origin.at(-1)).toMatchObject({ method: "POST" });
  });

  it("sends a GET again after the same failure (it is idempotent), and any method after a failure before the exit", async () => {
    const net = await network({ "http://a.test": 6 });
    const proxy = net.proxy();
    await proxy.request(get("/warm"));
    let once = true;
    net.setAfterExit((exit) => {
      exit.dropNextAnswer = once;
      once = false;
    });
    const response = await proxy.request(get("/again"));
    expect(served(response)).toBe("served GET http://origin.test/again");
    expect(response.attempts).toBe(2);

    // A retired entry refuses the cell with 404 unknown_relay: nothing was forwarded, so even a POST goes again.
    const current = await proxy.request(get("/current"));
    await net.retire(current.path[0]!);
    const before = net.origin.length;
    const post = await proxy.request(get("/post", "POST"));
    expect(served(post)).toBe("served POST http://origin.test/post");
    expect(post.attempts).toBe(2);
    expect(net.origin.length - before).toBe(1);
  });

  it("forgets a failed relay when its time is up, by the injected clock", async () => {
    const net = await network({ "http://a.test": 4 });
    const proxy = net.proxy();
    const victim = (await proxy.request(get("/1"))).path[0]!;
    net.relay(victim).dead = true;
    await proxy.request(get("/2"));
    expect(proxy.avoided().down).toContain(victim);
    net.relay(victim).dead = false;
    net.advance(RELAY_DOWN_MS - 1);
    expect(proxy.avoided().down).toContain(victim);
    for (let i = 0; i < 8; i++) expect((await proxy.request(get("/avoid"), { fresh: true })).path).not.toContain(victim);
    net.advance(1);
    expect(proxy.avoided().down).not.toContain(victim);
    // With 4 relays and 3 per circuit, a path misses a given relay 1 time in 4: 40 in a row, ~1e-24.
    const paths = [];
    for (let i = 0; i < 40; i++) paths.push((await proxy.request(get("/back"), { fresh: true })).path);
    expect(paths.some((path) => path.includes(victim))).toBe(true);
  });

  it("leaves the hops past the entry of a circuit that failed without naming a hop out of paths, for a short time", async () => {
    const net = await network({ "http://a.test": 6 });
    const proxy = net.proxy();
    const first = await proxy.request(get("/1"));
    net.setAfterExit((exit) => {
      net.setAfterExit(() => {});
      exit.dropNextAnswer = true;
    });
    const second = await proxy.request(get("/2"));
    expect(second.attempts).toBe(2);
    expect([...proxy.avoided().suspect].sort()).toEqual(first.path.slice(1).sort());
    for (let i = 0; i < 10; i++) {
      const path = (await proxy.request(get("/3"), { fresh: true })).path;
      expect(path).not.toContain(first.path[1]);
      expect(path).not.toContain(first.path[2]);
    }
    net.advance(RELAY_SUSPECT_MS);
    expect(proxy.avoided().suspect.size).toBe(0);
  });

  it("stops using its current circuit once a refreshed consensus no longer lists one of its relays, before any request fails on it", async () => {
    const net = await network({ "http://a.test": 6 });
    const proxy = net.proxy({ consensusMaxAgeMs: 1_000 });
    const first = await proxy.request(get("/1"));
    await net.retire(first.path[1]!);
    net.advance(1_000);
    await proxy.consensus();
    const second = await proxy.request(get("/2"));
    expect(second).toMatchObject({ reused: false, attempts: 1 });
  });

  it("never steps back to an older consensus: a replayed document cannot bring back a relay that left", async () => {
    const net = await network({ "http://a.test": 5 });
    const proxy = net.proxy({ consensusMaxAgeMs: 0 });
    const old: ConsensusDocument = { version: 2, published: 5, validUntil: net.clock() + 30_000, voters: [], relays: net.listed() };
    await proxy.request(get("/1"));
    const gone = net.relays[0]!.descriptor.id;
    await net.retire(gone);
    await proxy.request(get("/2"), { fresh: true });
    net.setDirectory(() => old);
    for (let i = 0; i < 15; i++) expect((await proxy.request(get("/replayed"), { fresh: true })).path).not.toContain(gone);
    expect((await proxy.consensus()).relays.map((r) => r.id)).not.toContain(gone);
  });

  it("refreshes the consensus after a failure, even within its maximum age", async () => {
    const net = await network({ "http://a.test": 6 });
    const proxy = net.proxy({ consensusMaxAgeMs: 60_000 });
    const before = await proxy.request(get("/1"));
    const fetches = net.consensusFetches();
    await net.retire(before.path[1]!);
    await proxy.request(get("/2"));
    expect(net.consensusFetches()).toBe(fetches + 1);
  });

  it("falls back to the full list when too few relays are left, rather than failing", async () => {
    const net = await network({ "http://a.test": 3 });
    const proxy = net.proxy();
    const first = await proxy.request(get("/1"));
    // A DESTROY marks the middle and the exit suspect; with three relays there is no other path.
    net.setAfterExit((exit) => {
      net.setAfterExit(() => {});
      exit.dropNextAnswer = true;
    });
    const response = await proxy.request(get("/2"));
    expect(served(response)).toBe("served GET http://origin.test/2");
    expect(new Set(response.path)).toEqual(new Set(first.path));
  });

  it("draws its paths with the randomness it is given", async () => {
    const net = await network({ "http://a.test": 8 });
    const sequence = () => {
      let n = 1;
      return (into: Uint32Array) => {
        into[0] = Math.imul(n++, 2654435761) >>> 0;
        return into;
      };
    };
    const paths = async (proxy: OnionProxy) => {
      const out = [];
      for (let i = 0; i < 5; i++) out.push((await proxy.request(get("/r"), { fresh: true })).path);
      return out;
    };
    const first = await paths(net.proxy({ random: sequence() }));
    expect(await paths(net.proxy({ random: sequence() }))).toEqual(first);
    expect(new Set(first.map((path) => path.join())).size).toBeGreaterThan(1);
  });

  it("bounds its attempts, then reports the last failure", async () => {
    const net = await network({ "http://a.test": 4 });
    for (const relay of net.relays) relay.dead = true;
    let retries = 0;
    const proxy = net.proxy({ events: { retry: () => void retries++ } });
    const failure = await proxy.request(get("/x")).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(LinkError);
    expect(retries).toBe(MAX_ATTEMPTS - 1);
    expect(net.origin).toHaveLength(0);
  });

  it("stops retrying once its time window has passed, by the injected clock", async () => {
    const net = await network({ "http://a.test": 4 });
    for (const relay of net.relays) relay.dead = true;
    let retries = 0;
    const proxy = net.proxy({ retryWindowMs: 1_000, events: { retry: () => void (retries++, net.advance(600)) } });
    await expect(proxy.request(get("/x"))).rejects.toBeInstanceOf(LinkError);
    expect(retries).toBe(2);
  });

  it("does not retry what a fresh circuit cannot fix: the directory's failure, too few relays", async () => {
    const net = await network({ "http://a.test": 2 });
    const proxy = net.proxy();
    await expect(proxy.request(get("/x"))).rejects.toMatchObject({ code: "not_enough_relays" });
    const unreachable = new Error("directory down");
    const broken = net.proxy({ consensus: () => Promise.reject(unreachable) });
    await expect(broken.request(get("/x"))).rejects.toBe(unreachable);
  });
});

describe("OnionProxy: guards, families and exits", () => {
  const deploymentOf = (net: Awaited<ReturnType<typeof network>>, id: string) => net.relay(id).deployment;

  it("enters every circuit through its guard, while the middle and the exit vary", async () => {
    const net = await network({ "http://a.test": 8 });
    const proxy = net.proxy();
    const entries = new Set<string>();
    const exits = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const { path } = await proxy.request(get(`/g/${i}`), { fresh: true });
      entries.add(path[0]!);
      exits.add(path[2]!);
    }
    expect(entries.size).toBe(1);
    expect(exits.size).toBeGreaterThan(1);
  });

  it("keeps its guards in the store it is given: the next run enters through the same guard", async () => {
    const net = await network({ "http://a.test": 8 });
    const store = memoryGuardStore();
    const first = (await net.proxy({ guards: store }).request(get("/run/1"))).path[0];
    expect(store.state?.guards.map((g) => g.id)).toEqual([first]);
    for (let run = 2; run < 8; run++) expect((await net.proxy({ guards: memoryGuardStore(store.state) }).request(get(`/run/${run}`))).path[0]).toBe(first);
    // Without the store, each run draws its own guard.
    const fresh = new Set<string>();
    for (let run = 0; run < 12; run++) fresh.add((await net.proxy().request(get("/nostore"))).path[0]!);
    expect(fresh.size).toBeGreaterThan(1);
  });

  it("enters through its next guard when the first one fails, and keeps the first one for when it is back", async () => {
    const net = await network({ "http://a.test": 8 });
    const store = memoryGuardStore();
    const proxy = net.proxy({ guards: store });
    const first = (await proxy.request(get("/1"))).path[0]!;
    net.relay(first).dead = true;
    const after = await proxy.request(get("/2"));
    expect(served(after)).toBe("served GET http://origin.test/2");
    expect(after.path[0]).not.toBe(first);
    expect(store.state?.guards.map((g) => g.id)).toEqual([first, after.path[0]]);
    expect(store.state?.guards[0]?.downSince).toBe(net.clock());
    // Back, and the client's own mark expired: the first guard again, and up.
    net.relay(first).dead = false;
    net.advance(RELAY_DOWN_MS);
    expect((await proxy.request(get("/3"), { fresh: true })).path[0]).toBe(first);
    expect(store.state?.guards[0]?.downSince).toBeNull();
  });

  it("never puts two relays of one deployment on a circuit (the family rule, on by default)", async () => {
    const net = await network({ "http://a.test": 6, "http://b.test": 2, "http://c.test": 2 });
    const proxy = net.proxy({ familyRule: undefined });
    for (let i = 0; i < 30; i++) {
      const { path } = await proxy.request(get(`/f/${i}`), { fresh: true });
      expect(new Set(path.map((id) => deploymentOf(net, id))).size).toBe(3);
    }
  });

  it("takes its exits among the relays with the Exit flag only", async () => {
    const net = await network({ "http://a.test": 8 });
    const exits = net.relays.slice(0, 2).map((relay) => relay.descriptor.id);
    for (const relay of net.relays.slice(2)) relay.descriptor.flags = ["Guard", "Running", "Stable"];
    const proxy = net.proxy();
    for (let i = 0; i < 20; i++) expect(exits).toContain((await proxy.request(get(`/x/${i}`), { fresh: true })).path[2]);
  });
});

describe("the retry rule", () => {
  const hops = ["e", "m", "x"];
  const path = hops.map((id) => ({ id }) as ListedRelay);
  const link = (status: number, code: string) => new LinkError("http://r/relays/e", status, code, "failed");

  it("names the relay that failed a build: the entry for a link error, the relay being extended to for EXTEND2", () => {
    expect(buildFailure(new CircuitBuildError(link(0, "relay_unreachable"), path, 0))).toEqual({ reachedExit: "no", down: ["e"], suspect: [] });
    expect(buildFailure(new CircuitBuildError(link(404, "unknown_relay"), path, 1))).toEqual({ reachedExit: "no", down: ["e"], suspect: [] });
    expect(buildFailure(new CircuitBuildError(new ProtocolError("handshake_failed", "bad"), path, 0))).toEqual({ reachedExit: "no", down: ["e"], suspect: [] });
    expect(buildFailure(new CircuitBuildError(new ProtocolError("extend_failed", "no"), path, 1))).toEqual({ reachedExit: "no", down: ["m"], suspect: [] });
    expect(buildFailure(new CircuitBuildError(new ProtocolError("extend_failed", "no"), path, 2))).toEqual({ reachedExit: "no", down: ["x"], suspect: [] });
    expect(buildFailure(new CircuitBuildError(new ProtocolError("circuit_destroyed", "gone"), path, 2))).toEqual({ reachedExit: "no", down: [], suspect: ["m"] });
  });

  it("says whether a request may have reached the exit, and whom to avoid", () => {
    expect(requestFailure(link(404, "unknown_relay"), hops)).toEqual({ reachedExit: "no", down: ["e"], suspect: [] });
    expect(requestFailure(link(404, "unknown_link"), hops)).toEqual({ reachedExit: "no", down: [], suspect: [] });
    expect(requestFailure(link(0, "relay_unreachable"), hops)).toEqual({ reachedExit: "no", down: ["e"], suspect: [] });
    expect(requestFailure(link(429, "too_many_circuits"), hops)).toEqual({ reachedExit: "no", down: [], suspect: ["e"] });
    expect(requestFailure(link(0, "link_failed"), hops)).toEqual({ reachedExit: "maybe", down: ["e"], suspect: [] });
    expect(requestFailure(link(0, "link_timeout"), hops)).toEqual({ reachedExit: "maybe", down: [], suspect: hops });
    expect(requestFailure(link(500, "internal_error"), hops)).toEqual({ reachedExit: "maybe", down: [], suspect: ["e"] });
    expect(requestFailure(new ProtocolError("circuit_destroyed", "x"), hops)).toEqual({ reachedExit: "maybe", down: [], suspect: ["m", "x"] });
    expect(requestFailure(new ProtocolError("integrity_failed", "x"), hops)).toEqual({ reachedExit: "maybe", down: [], suspect: hops });
  });

  it("sends again anything that never reached the exit, and only an idempotent method otherwise", () => {
    const never: AttemptFailure = { reachedExit: "no", down: [], suspect: [] };
    const maybe: AttemptFailure = { reachedExit: "maybe", down: [], suspect: [] };
    for (const method of ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]) expect(mayRetry(never, method)).toBe(true);
    for (const method of ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]) expect(mayRetry(maybe, method)).toBe(true);
    for (const method of ["POST", "PATCH"]) expect(mayRetry(maybe, method)).toBe(false);
  });
});

describe("OnionProxy: stream pools per isolation key", () => {
  const circuitsHeld = (net: Awaited<ReturnType<typeof network>>) => net.relays.reduce((n, relay) => n + relay.tables.keys.size, 0);

  it("drops the pools of keys whose circuit window has passed, destroying their circuits, when another key opens a stream", async () => {
    const net = await network({ "http://a.test": 5 });
    const proxy = net.proxy({ reuseMs: 10_000 });
    for (let i = 0; i < 5; i++) {
      const { stream } = await proxy.openStream("origin.test", 443, { isolation: `user${i}` });
      await stream.end();
    }
    expect(proxy.streamPoolCount).toBe(5);
    expect(circuitsHeld(net)).toBe(15);
    // Within the window, another key's stream leaves them be: each may still be reused.
    await (await proxy.openStream("origin.test", 443, { isolation: "soon" })).stream.end();
    expect(proxy.streamPoolCount).toBe(6);
    net.advance(10_001);
    const { stream } = await proxy.openStream("origin.test", 443, { isolation: "later" });
    expect(proxy.streamPoolCount).toBe(1);
    await expect.poll(() => circuitsHeld(net)).toBe(3);
    await stream.end();
  });

  it("destroys a swept circuit only once the stream it still carries is over", async () => {
    const net = await network({ "http://a.test": 5 });
    const proxy = net.proxy({ reuseMs: 10_000 });
    const { stream: open } = await proxy.openStream("origin.test", 443, { isolation: "alice" });
    net.advance(10_001);
    const { stream: later } = await proxy.openStream("origin.test", 443, { isolation: "bob" });
    expect(proxy.streamPoolCount).toBe(1);
    expect(circuitsHeld(net)).toBe(6);
    await open.end();
    await expect.poll(() => circuitsHeld(net)).toBe(3);
    await later.end();
  });
});
