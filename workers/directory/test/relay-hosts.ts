// Real relay hosts on loopback for the authority to test: six deployments of relays made with the
// protocol's own RelayEngine (packages/protocol/src/testing), each honest or lying about its key as
// a test asks. The tests, inside workerd, drive them through their /admin routes over real HTTP.

import type { ExitPolicy } from "@shallot/protocol";
import { TestRelayHost, type TestRelay, type TestRelayBehaviour } from "@shallot/protocol/testing";
import { serveOnLoopback } from "@shallot/protocol/testing/node";
import type { TestProject } from "vitest/node";

export default async function setup(project: TestProject) {
  const servers = await Promise.all(
    [0, 1, 2, 3, 4, 5].map(async () => {
      let host!: TestRelayHost;
      const relays = new Map<string, TestRelay>();
      /** Every request a relay of this host received, in order: "<ms> GET <id>" or "<ms> CELL <id>". */
      const log: string[] = [];
      const server = await serveOnLoopback(async (request) => {
        const url = new URL(request.url);
        const admin = /^\/admin\/([a-z]+)(?:\/([0-9a-f]{64}))?$/.exec(url.pathname);
        if (!admin) {
          const id = /\/relays\/([0-9a-f]{64})/.exec(url.pathname)?.[1];
          if (id) log.push(`${Date.now()} ${url.pathname.endsWith("/cell") ? "CELL" : "GET"} ${id}`);
          return host.handle(request);
        }
        const [, action, id] = admin;
        const relay = id ? relays.get(id) : undefined;
        switch (action) {
          case "relays": {
            const made = await host.add((url.searchParams.get("behaviour") ?? "honest") as TestRelayBehaviour, (url.searchParams.get("exitPolicy") ?? "all") as ExitPolicy);
            relays.set(made.id, made);
            return Response.json({ id: made.id, address: made.address });
          }
          case "signed":
            if (!relay) return new Response(null, { status: 404 });
            return Response.json(await relay.signed(Number(url.searchParams.get("published") ?? Date.now()), url.searchParams.has("address") ? { address: url.searchParams.get("address")! } : {}));
          case "retirement": {
            if (!relay) return new Response(null, { status: 404 });
            const at = Number(url.searchParams.get("at") ?? Date.now());
            return Response.json(await relay.retirement(at));
          }
          case "remove":
            if (id) host.remove(id);
            return Response.json({ removed: true });
          case "restore":
            if (id) host.restore(id);
            return Response.json({ restored: true });
          case "stats":
            return Response.json({ creates: relay?.creates ?? 0, circuits: relay?.circuits() ?? 0, held: host.held, log });
          case "release":
            host.release();
            return Response.json({ released: true });
          default:
            return new Response(null, { status: 404 });
        }
      });
      host = new TestRelayHost(server.url);
      return { server, host };
    }),
  );
  project.provide("relayHosts", servers.map(({ server }) => server.url));
  return async () => {
    for (const { server, host } of servers) {
      host.release();
      await server.close();
    }
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    relayHosts: string[];
  }
}
