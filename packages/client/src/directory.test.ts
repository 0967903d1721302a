import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Authority, type ConsensusDocument, GuardSet, type KeyPair, generateEd25519, serializeConsensus, signConsensusText, toBase64Url, toHex } from "@shallot/protocol";
import { type LoopbackServer, serveOnLoopback } from "@shallot/protocol/testing/node";
import { defaultStateDir, fetchConsensus, resolveNetwork } from "./directory.ts";
import { CliError, UsageError } from "./errors.ts";
import { guardFile, guardFileStore } from "./guard-file.ts";

const KEYS = ["GBTKInt4N6NrvVnizjOB6yRjHHMCTbJlmpRF2ZDmASg", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA"];
const missingFile = join(tmpdir(), "no-such-dir", "network.json");
const list = (n = 3) => KEYS.slice(0, n).map((key, i) => `${key}@http://a${i + 1}.test:${8000 + i}`);

describe("resolveNetwork", () => {
  it("prefers --authority, then SHALLOT_AUTHORITIES, then the dev mesh's network file", () => {
    const env = { SHALLOT_AUTHORITIES: list(2).join(" ") };
    expect(resolveNetwork({ authorities: list(3) }, env, missingFile)).toMatchObject({ source: "--authority", familyRule: true, authorities: [{ url: "http://a1.test:8000", key: KEYS[0] }, {}, {}] });
    expect(resolveNetwork({}, env, missingFile)).toMatchObject({ source: "SHALLOT_AUTHORITIES", authorities: [{}, {}] });
    const file = join(mkdtempSync(join(tmpdir(), "onion-net-")), "network.json");
    writeFileSync(file, JSON.stringify({ authorities: [{ url: "http://127.0.0.1:8788", key: KEYS[0] }], familyRule: false }));
    expect(resolveNetwork({}, {}, file)).toMatchObject({ source: file, familyRule: false, authorities: [{ url: "http://127.0.0.1:8788", key: KEYS[0] }] });
    // The family rule: the flag, then SHALLOT_FAMILY_RULE, then the file (on unless it says off).
    expect(resolveNetwork({ familyRule: true }, {}, file).familyRule).toBe(true);
    expect(resolveNetwork({}, { SHALLOT_FAMILY_RULE: "on" }, file).familyRule).toBe(true);
    expect(resolveNetwork({ authorities: list(1) }, { SHALLOT_FAMILY_RULE: "off" }, file).familyRule).toBe(false);
  });

  it("keeps the guards in --state-dir, else $SHALLOT_STATE_DIR, else the XDG state directory", () => {
    expect(resolveNetwork({ authorities: list(1), stateDir: "/s" }, {}, missingFile).stateDir).toBe("/s");
    expect(defaultStateDir({ SHALLOT_STATE_DIR: "/x" })).toBe("/x");
    expect(defaultStateDir({ XDG_STATE_HOME: "/xdg" })).toBe("/xdg/shallot");
    expect(defaultStateDir({})).toMatch(/\.local\/state\/shallot$/);
  });

  it("without any authorities, tells the user to pass --authority", () => {
    expect(() => resolveNetwork({}, {}, missingFile)).toThrow(CliError);
    expect(() => resolveNetwork({}, {}, missingFile)).toThrow(/pass --authority KEY@URL/);
  });

  it("refuses entries that are not KEY@URL with a 32-byte key and an http(s) URL", () => {
    expect(() => resolveNetwork({ authorities: ["abc@http://a.test"] }, {}, missingFile)).toThrow(UsageError);
    expect(() => resolveNetwork({ authorities: [`${KEYS[0]}@localhost:8788`] }, {}, missingFile)).toThrow(/not an http\(s\) URL/);
    expect(() => resolveNetwork({ authorities: [`${KEYS[0]}`] }, {}, missingFile)).toThrow(/is not KEY@URL/);
  });
});

describe("fetchConsensus from three authorities", () => {
  let keys: KeyPair[];
  const servers: LoopbackServer[] = [];
  const answers: { status: number; body: string }[] = [];
  let authorities: Authority[];
  const config = (list = authorities) => ({ authorities: list, source: "test", familyRule: true, stateDir: tmpdir() });
  const document = (published: number): ConsensusDocument => ({ version: 2, published, validUntil: published + 180_000, voters: [], relays: [] });
  /** Every authority serves the document signed by those at `by`. */
  async function serve(doc: ConsensusDocument, by: number[]) {
    const text = serializeConsensus(doc);
    const signatures = await Promise.all(by.map((i) => signConsensusText(text, toBase64Url(keys[i]!.publicKey), keys[i]!.privateKey)));
    for (const answer of answers) Object.assign(answer, { status: 200, body: JSON.stringify({ document: text, signatures }) });
  }

  beforeAll(async () => {
    keys = await Promise.all([1, 2, 3].map(() => generateEd25519()));
    for (let i = 0; i < 3; i++) {
      const answer = { status: 503, body: "{}" };
      answers.push(answer);
      servers.push(await serveOnLoopback(async () => new Response(answer.body, { status: answer.status, headers: { "content-type": "application/json" } })));
    }
    authorities = servers.map((server, i) => ({ url: server.url, key: toBase64Url(keys[i]!.publicKey) }));
  });
  afterAll(() => Promise.all(servers.map((server) => server.close())));

  it("accepts a consensus signed by 2 of the 3 pinned authorities and names them", async () => {
    await serve(document(Date.now()), [0, 2]);
    const fetched = await fetchConsensus(config());
    expect(fetched.signers.sort()).toEqual([authorities[0]!.key, authorities[2]!.key].sort());
  });

  it("refuses one signed by 1 of 3, naming how many are needed and where the keys came from", async () => {
    await serve(document(Date.now()), [1]);
    await expect(fetchConsensus(config())).rejects.toMatchObject({ code: "bad_signature", status: 503, message: expect.stringMatching(/more than half \(2\) of the 3 pinned authorities \(from test\).*It was not used\./) });
  });

  it("goes on with an authority down, and names every authority when none answers", async () => {
    await serve(document(Date.now()), [0, 1, 2]);
    const closed = await serveOnLoopback(async () => new Response(null));
    await closed.close();
    const oneDown = [{ ...authorities[0]!, url: closed.url }, authorities[1]!, authorities[2]!];
    expect((await fetchConsensus(config(oneDown))).signers).toHaveLength(3);
    const allDown = authorities.map((a, i) => ({ ...a, url: `${closed.url}/${i}` }));
    await expect(fetchConsensus(config(allDown))).rejects.toMatchObject({ code: "directory_unreachable", message: expect.stringMatching(/No directory authority could be reached: .*ECONNREFUSED.*ECONNREFUSED.*ECONNREFUSED/) });
  });

  it("names stale and failed answers", async () => {
    await serve(document(Date.now() - 10 * 60_000), [0, 1, 2]);
    await expect(fetchConsensus(config())).rejects.toMatchObject({ code: "stale_consensus" });
    for (const answer of answers) Object.assign(answer, { status: 500, body: "{}" });
    await expect(fetchConsensus(config())).rejects.toMatchObject({ code: "directory_unreachable", message: expect.stringContaining("answered 500") });
  });
});

describe("the guard file", () => {
  it("keeps the guards across runs, one file per set of authorities, readable by the user only", async () => {
    const stateDir = join(mkdtempSync(join(tmpdir(), "onion-state-")), "shallot");
    const network = { authorities: resolveNetwork({ authorities: list(3) }, {}, missingFile).authorities, stateDir };
    const relays = [1, 2, 3, 4, 5].map((n) => {
      const id = toHex(new Uint8Array(32).fill(n));
      return { id, address: `https://r${n}.test/relays/${id}`, onionKey: KEYS[0]!, identityKey: KEYS[0]!, exitPolicy: "all" as const, published: 0, flags: ["Exit" as const, "Guard" as const, "Running" as const, "Stable" as const] };
    });
    const store = guardFileStore(network);
    expect(await store.load()).toBeNull();
    const first = new GuardSet(await store.load());
    const guard = first.entry(relays, 1).id;
    await store.save(first.state);
    expect((statSync(guardFile(network)).mode & 0o777).toString(8)).toBe("600");
    expect(JSON.parse(readFileSync(guardFile(network), "utf8"))).toEqual(first.state);
    for (let run = 0; run < 10; run++) expect(new GuardSet(await guardFileStore(network).load()).entry(relays, 2).id).toBe(guard);
    // Another network has its own file.
    expect(guardFile({ ...network, authorities: network.authorities.slice(1) })).not.toBe(guardFile(network));
    writeFileSync(guardFile(network), "not json");
    expect(await store.load()).toBeNull();
  });
});
