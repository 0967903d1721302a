// `onion circuit`: the consensus as the client sees it — which pinned authorities signed it, its
// relays and their flags, this client's entry guards — then one circuit built hop by hop, each
// hop with its flags and handshake time, then destroyed.

import { toBase64Url } from "@shallot/protocol";
import type { CommonOptions } from "../args.ts";
import { buildCircuit, describeHop, flagsOf } from "../build-circuit.ts";
import { fetchConsensus, resolveNetwork } from "../directory.ts";
import { guardFile, guardFileStore } from "../guard-file.ts";
import { formatAge, formatMs, shortId, silentProgress, write } from "../output.ts";
import { httpTransport } from "../transport.ts";

export async function runCircuit(options: CommonOptions): Promise<number> {
  const config = resolveNetwork(options);
  const out = (line: string) => write(process.stdout, `${line}\n`);
  const { document, signers, from } = await fetchConsensus(config);
  const now = Date.now();
  const needed = Math.floor(config.authorities.length / 2) + 1;
  await out(`authorities ${config.authorities.length} pinned (from ${config.source}); consensus from ${from.url}`);
  for (const authority of config.authorities) await out(`  ${authority.url}  ${authority.key}  ${signers.includes(authority.key) ? "signed" : "no valid signature"}`);
  await out(`signatures  ${signers.length} of ${config.authorities.length} valid (more than half, ${needed}, needed)`);
  await out(`published   ${new Date(document.published).toISOString()} (${formatAge(now - document.published)}), valid until ${new Date(document.validUntil).toISOString()}`);
  await out(`relays      ${document.relays.length}`);
  for (const relay of document.relays) await out(`  ${shortId(relay.id)}  ${relay.address}  ${flagsOf(relay)}  (descriptor ${formatAge(now - relay.published)})`);

  const lines: Promise<void>[] = [];
  const started = performance.now();
  const circuit = await buildCircuit(document, httpTransport(), {
    progress: silentProgress,
    guards: guardFileStore(config),
    familyRule: config.familyRule,
    onPath: async (_path, guards) => {
      await out(`guards      ${guards.state.guards.map((g) => `${shortId(g.id)}${g.downSince === null ? "" : " (down)"}`).join(", ")}  (kept in ${guardFile(config)})`);
      await out(`circuit     ${config.familyRule ? "family rule on: one relay per deployment" : "family rule off"}`);
    },
    onHop: (hop, index, length) => void lines.push(out(`  ${describeHop(hop, index, length)}`)),
  });
  const buildMs = performance.now() - started;
  await Promise.all(lines);
  await circuit.destroy().catch(() => {});
  await out(`built in ${formatMs(buildMs)}; destroyed`);
  return 0;
}
