// `onion fetch`: one HTTP request through a circuit built for it, curl-like output.

import { writeFile } from "node:fs/promises";
import { concat, utf8 } from "@shallot/protocol";
import type { FetchOptions } from "../args.ts";
import { buildCircuit, describeConsensus } from "../build-circuit.ts";
import { fetchConsensus, resolveDirectory } from "../directory.ts";
import { CliError } from "../errors.ts";
import { errorLine, formatMs, formatResponseHead, progressOn, reasonPhrase, write } from "../output.ts";
import { readDataSource } from "../read-input.ts";
import { buildRequest, parseMethod, parseTargetUrl } from "../request.ts";
import { httpTransport } from "../transport.ts";

/** curl's exit status for --fail on an HTTP error. */
export const FAIL_EXIT_STATUS = 22;

export async function runFetch(options: FetchOptions): Promise<number> {
  // Bad input fails before anything touches the network.
  parseTargetUrl(options.url);
  parseMethod(options.method, options.data.length > 0, options.head);
  const config = resolveDirectory(options);
  const data = [];
  for (const source of options.data) data.push(await readDataSource(source));
  const request = buildRequest({ url: options.url, method: options.method, head: options.head, headers: options.headers, data });

  const progress = progressOn(process.stderr, options.verbosity);
  const consensus = await fetchConsensus(config);
  progress.line(describeConsensus(consensus, config.url, Date.now()));
  // Every `onion fetch` builds its own circuit, so --new-circuit needs nothing more.
  const circuit = await buildCircuit(consensus, httpTransport(), { progress });
  const started = performance.now();
  let result: Awaited<ReturnType<typeof circuit.request>>;
  try {
    progress.line(`${request.method} ${request.url}`);
    result = await circuit.request(request);
  } finally {
    await circuit.destroy().catch(() => {
      // An entry that went away: the relays' idle expiry erases the circuit.
    });
  }
  if (!result.ok) throw new CliError(result.error.error, `The exit could not complete the request (${result.error.error}): ${result.error.message}`, result.error.status);

  const { response } = result;
  progress.line(`${response.status} ${reasonPhrase(response.status, response.statusText)}, ${response.body.length} bytes, in ${formatMs(performance.now() - started)}; circuit destroyed`);
  if (options.fail && response.status >= 400) {
    await write(process.stderr, errorLine(`the origin answered ${response.status} ${reasonPhrase(response.status, response.statusText)}`.trimEnd()));
    return FAIL_EXIT_STATUS;
  }
  const head = options.include || options.head ? utf8(formatResponseHead(response)) : new Uint8Array(0);
  const body = request.method === "HEAD" ? new Uint8Array(0) : response.body;
  if (options.output !== undefined) {
    try {
      await writeFile(options.output, concat(head, body));
    } catch (error) {
      throw new CliError("output_failed", `cannot write '${options.output}' (${(error as { code?: string }).code ?? "error"})`);
    }
  } else {
    if (head.length > 0) await write(process.stdout, head);
    if (body.length > 0) await write(process.stdout, body);
  }
  return 0;
}
