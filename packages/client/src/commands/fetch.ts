// `onion fetch`: one HTTP request through a circuit built for it, curl-like output.

import { writeFile } from "node:fs/promises";
import { concat, utf8 } from "@shallot/protocol";
import type { FetchOptions } from "../args.ts";
import { resolveNetwork } from "../directory.ts";
import { CliError } from "../errors.ts";
import { cliOnionProxy } from "../onion-proxy.ts";
import { errorLine, formatMs, formatResponseHead, progressOn, reasonPhrase, write } from "../output.ts";
import { readDataSource } from "../read-input.ts";
import { buildRequest, notForwarded, parseMethod, parseTargetUrl } from "../request.ts";

/** curl's exit status for --fail on an HTTP error. */
export const FAIL_EXIT_STATUS = 22;

export async function runFetch(options: FetchOptions): Promise<number> {
  // Bad input fails before anything touches the network.
  parseTargetUrl(options.url);
  parseMethod(options.method, options.data.length > 0, options.head);
  const config = resolveNetwork(options);
  const data = [];
  for (const source of options.data) data.push(await readDataSource(source));
  const input = { url: options.url, method: options.method, head: options.head, headers: options.headers, userAgent: options.userAgent, data };
  const request = buildRequest(input);

  const progress = progressOn(process.stderr, options.verbosity);
  for (const name of notForwarded(input)) progress.line(`header ${name} not sent: exits forward only the headers of docs/protocol.md section 13`);
  // Every `onion fetch` builds its own circuit, so --new-circuit needs nothing more; a failed
  // attempt goes again on a new circuit when the retry rule allows.
  const proxy = cliOnionProxy(config, progress);
  const teardown: Promise<unknown>[] = [];
  const started = performance.now();
  let sent: Awaited<ReturnType<typeof proxy.request>>;
  try {
    progress.line(`${request.method} ${request.url}`);
    sent = await proxy.request(request, { fresh: true, waitUntil: (promise) => void teardown.push(promise.catch(() => {})) });
  } finally {
    // An entry that went away: the relays' idle expiry erases the circuit.
    await proxy.close().catch(() => {});
    await Promise.all(teardown);
  }
  const { result } = sent;
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
