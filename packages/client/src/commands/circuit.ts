// `onion circuit`: the consensus as the client sees it (verified), then one circuit built hop by
// hop with each handshake's time, then destroyed.

import type { CommonOptions } from "../args.ts";
import { buildCircuit, describeHop } from "../build-circuit.ts";
import { fetchConsensus, resolveDirectory } from "../directory.ts";
import { formatAge, formatMs, shortId, silentProgress, write } from "../output.ts";
import { httpTransport } from "../transport.ts";
import { toBase64Url } from "@shallot/protocol";

export async function runCircuit(options: CommonOptions): Promise<number> {
  const config = resolveDirectory(options);
  const out = (line: string) => write(process.stdout, `${line}\n`);
  const consensus = await fetchConsensus(config);
  const now = Date.now();
  await out(`directory  ${config.url}`);
  await out(`key        ${toBase64Url(config.key)} (from ${config.keySource})`);
  await out(`signature  verified`);
  await out(`published  ${new Date(consensus.published).toISOString()} (${formatAge(now - consensus.published)}), valid until ${new Date(consensus.validUntil).toISOString()}`);
  await out(`relays     ${consensus.relays.length}`);
  for (const relay of consensus.relays) await out(`  ${shortId(relay.id)}  ${relay.address}  (descriptor ${formatAge(now - relay.published)})`);

  await out(`circuit`);
  const lines: Promise<void>[] = [];
  const started = performance.now();
  const circuit = await buildCircuit(consensus, httpTransport(), {
    progress: silentProgress,
    onHop: (hop, index, length) => void lines.push(out(`  ${describeHop(hop, index, length)}`)),
  });
  const buildMs = performance.now() - started;
  await Promise.all(lines);
  await circuit.destroy().catch(() => {});
  await out(`built in ${formatMs(buildMs)}; destroyed`);
  return 0;
}
