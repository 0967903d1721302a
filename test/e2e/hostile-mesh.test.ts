// A mesh of its own, on fast timers and under the production destination policy
// (EXIT_POLICY=production): relays extended to a tarpit keep their place in the consensus, and the
// exits refuse private destinations by address and by name. Real wrangler processes, a real
// directory, a real hostile relay (an HTTP server that completes CREATE2 and never answers again).

import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CellCommand,
  Circuit,
  type Descriptor,
  decodeCell,
  encodeCell,
  fetchTransport,
  fromHex,
  generateEd25519,
  generateX25519,
  ntorServer,
  relayIdFor,
  toBase64Url,
} from "@shallot/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error -- plain ESM script shared with `npm run dev`
import { startMesh } from "../../scripts/mesh.mjs";
import { type Origin, startOrigin } from "./origin.ts";

const RELAY_TTL_MS = 3_000;

interface Mesh {
  urls: { relay: string; directory: string };
  stop(): Promise<void>;
}

/** A relay that answers CREATE2 with a real ntor handshake and then holds every other cell forever. */
async function startTarpit() {
  const identity = await generateEd25519();
  const onion = await generateX25519();
  const id = await relayIdFor(identity.publicKey);
  const held: ServerResponse[] = [];
  const seen = { creates: 0, held: 0 };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", async () => {
      const cell = decodeCell(new Uint8Array(Buffer.concat(chunks)));
      if (cell.command !== CellCommand.CREATE2) {
        seen.held++;
        held.push(response);
        return;
      }
      seen.creates++;
      const { reply } = await ntorServer(cell.onionskin, { relayId: fromHex(id), onionKey: onion });
      response.end(encodeCell({ command: CellCommand.CREATED2, linkId: cell.linkId, reply }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const descriptor: Descriptor = {
    id,
    address: `http://127.0.0.1:${(server.address() as AddressInfo).port}/relays/${id}`,
    onionKey: toBase64Url(onion.publicKey),
    identityKey: toBase64Url(identity.publicKey),
    published: Date.now(),
  };
  const close = () =>
    new Promise<void>((resolve) => {
      for (const response of held) response.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { descriptor, seen, close };
}

let mesh: Mesh;
let origin: Origin;
let tarpit: Awaited<ReturnType<typeof startTarpit>>;
let stateDir: string;
const transport = fetchTransport({ fetch, timeoutMs: 20_000 });

const consensusRelays = async (): Promise<Descriptor[]> => {
  const signed = (await (await fetch(`${mesh.urls.directory}/consensus`)).json()) as { document: string };
  return JSON.parse(signed.document).relays;
};

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "shallot-hostile-"));
  [origin, tarpit] = await Promise.all([startOrigin(), startTarpit()]);
  mesh = await startMesh({
    ports: { relay: 28787, directories: [28788, 28791, 28792], auth: 28789 },
    inspectorBase: 29330,
    relays: 3,
    stateDir,
    relayTtlMs: RELAY_TTL_MS,
    pingIntervalMs: 1_000,
    exitPolicy: "production",
    egressHosts: { "loopback.evil.test": "127.0.0.1", "lan.evil.test": "10.0.0.7" },
    extraRelayVars: { CIRCUIT_IDLE_MS: "1500", LINK_TIMEOUT_MS: "1000", EXIT_TIMEOUT_MS: "1500" },
  });
}, 180_000);

afterAll(async () => {
  await mesh?.stop();
  await Promise.all([origin?.close(), tarpit?.close()]);
  rmSync(stateDir, { recursive: true, force: true });
});

describe("relays extended to a tarpit", () => {
  it("stay in the consensus indefinitely while the tarpit holds their cells and DESTROYs", async () => {
    const relays = await consensusRelays();
    expect(relays).toHaveLength(3);
    const ids = relays.map((r) => r.id).sort();
    // Circuits that end at the tarpit: one with a request stuck in it, some left to idle expiry.
    const stuck = await Circuit.build([relays[0]!, relays[1]!, tarpit.descriptor], transport, { clock: Date.now });
    const pending = stuck.request({ method: "GET", url: `${origin.url}/never`, headers: [], body: new Uint8Array(0) }).catch((error: unknown) => error);
    for (const relay of relays) await Circuit.build([relay, tarpit.descriptor], transport, { clock: Date.now });
    expect(tarpit.seen.creates).toBe(4);
    expect(await pending).toMatchObject({ code: "circuit_destroyed" });
    // Three TTLs: long enough for a relay whose heartbeat hung on the tarpit to have been pruned.
    const until = Date.now() + 3 * RELAY_TTL_MS;
    while (Date.now() < until) {
      expect((await consensusRelays()).map((r) => r.id).sort()).toEqual(ids);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    // The tarpit was sent DESTROYs by idle expiry (and holds them): the relays went on regardless.
    expect(tarpit.seen.held).toBeGreaterThanOrEqual(4);
  }, 60_000);
});

describe("the dev mesh under EXIT_POLICY=production", () => {
  const gatewayGet = (url: string) => fetch(`${mesh.urls.relay}/fetch?url=${encodeURIComponent(url)}`);

  it.each([
    ["a loopback address", () => `${origin.url}/by-address`],
    ["a name that resolves to loopback", () => `${origin.url.replace("127.0.0.1", "loopback.evil.test")}/by-name`],
    ["a name that resolves to a private address", () => "http://lan.evil.test/"],
  ])("refuses %s with 403 destination_refused, and the origin sees nothing", async (_, url) => {
    const response = await gatewayGet(url());
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: "destination_refused" });
    expect(origin.received).toEqual([]);
  });
});
