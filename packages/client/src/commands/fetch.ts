// `onion fetch`: one HTTP request through a circuit built for it, curl-like output.
// - https://: over a stream, with TLS run here (the exit sees the host and port, and ciphertext);
// - http://: a REQUEST the exit performs itself.

import { createWriteStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { pipeline } from "node:stream/promises";
import { concat, utf8 } from "@shallot/protocol";
import type { FetchOptions } from "../args.ts";
import { resolveNetwork } from "../directory.ts";
import { CliError } from "../errors.ts";
import { cliOnionProxy } from "../onion-proxy.ts";
import { type Progress, errorLine, formatMs, formatResponseHead, progressOn, reasonPhrase, shortId, write } from "../output.ts";
import { readDataSource } from "../read-input.ts";
import { buildRequest, buildStreamRequest, notForwarded, parseMethod, parseTargetUrl } from "../request.ts";
import { StreamAgent, openTlsStream, sendHttps } from "../streams/https.ts";
import { describeRefusal } from "../streams/refusal.ts";
import { trustContext } from "../streams/tls.ts";

/** curl's exit status for --fail on an HTTP error. */
export const FAIL_EXIT_STATUS = 22;

export async function runFetch(options: FetchOptions): Promise<number> {
  // Bad input fails before anything touches the network.
  const target = parseTargetUrl(options.url);
  parseMethod(options.method, options.data.length > 0, options.head);
  const config = resolveNetwork(options);
  const data = [];
  for (const source of options.data) data.push(await readDataSource(source));
  const input = { url: options.url, method: options.method, head: options.head, headers: options.headers, userAgent: options.userAgent, data };
  const progress = progressOn(process.stderr, options.verbosity);
  if (new URL(target).protocol === "https:") return fetchOverStream(options, input, config, progress);

  const request = buildRequest(input);
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

/** https://: TLS from here to the origin over a stream; the body is written as it arrives. */
async function fetchOverStream(options: FetchOptions, input: Parameters<typeof buildStreamRequest>[0], config: ReturnType<typeof resolveNetwork>, progress: Progress): Promise<number> {
  const request = buildStreamRequest(input);
  const url = new URL(request.url);
  const context = trustContext(options.cacert);
  const proxy = cliOnionProxy(config, progress);
  const target = `${url.hostname}:${url.port || 443}`;
  const agent = new StreamAgent(async () => {
    progress.line(`opening a stream to ${target} (the exit resolves the name and connects)`);
    let opened: Awaited<ReturnType<typeof openTlsStream>>;
    try {
      opened = await openTlsStream(proxy, url, context);
    } catch (error) {
      if (error instanceof CliError) throw error;
      const refusal = describeRefusal(error, target);
      throw new CliError(refusal.error, refusal.message, refusal.status);
    }
    const { socket, path } = opened;
    const peer = socket.getPeerCertificate();
    progress.line(`${socket.getProtocol()} with ${url.hostname} through circuit ${path.map(shortId).join(",")}; certificate for ${peer.subject?.CN ?? "?"} issued by ${peer.issuer?.CN ?? "?"}, verified`);
    return socket;
  });
  const started = performance.now();
  try {
    progress.line(`${request.method} ${request.url}`);
    let response: IncomingMessage;
    try {
      response = await sendHttps(agent, url, { method: request.method, headers: request.headers, body: request.body });
    } catch (error) {
      if (error instanceof CliError) throw error;
      throw new CliError("origin_failed", `the connection to ${target} failed before an answer (${(error as { code?: string }).code ?? (error as Error).message})`);
    }
    const status = response.statusCode ?? 0;
    const statusText = response.statusMessage ?? "";
    if (options.fail && status >= 400) {
      response.resume();
      await write(process.stderr, errorLine(`the origin answered ${status} ${reasonPhrase(status, statusText)}`.trimEnd()));
      return FAIL_EXIT_STATUS;
    }
    const pairs: [string, string][] = [];
    for (let i = 0; i + 1 < response.rawHeaders.length; i += 2) pairs.push([response.rawHeaders[i]!, response.rawHeaders[i + 1]!]);
    const head = options.include || options.head ? formatResponseHead({ status, statusText, headers: pairs }) : "";
    let bytes = 0;
    const counted = async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        bytes += chunk.length;
        yield chunk;
      }
    };
    if (options.output !== undefined) {
      const file = createWriteStream(options.output);
      if (head) file.write(head);
      try {
        await pipeline(response, counted, file);
      } catch (error) {
        if ((error as { syscall?: string }).syscall) throw new CliError("output_failed", `cannot write '${options.output}' (${(error as { code?: string }).code ?? "error"})`);
        throw new CliError("origin_failed", `the connection to ${target} failed during the body`);
      }
    } else {
      if (head) await write(process.stdout, head);
      try {
        await pipeline(response, counted, process.stdout, { end: false });
      } catch {
        throw new CliError("origin_failed", `the connection to ${target} failed during the body`);
      }
    }
    progress.line(`${status} ${reasonPhrase(status, statusText)}, ${bytes} bytes, in ${formatMs(performance.now() - started)}`);
    return 0;
  } finally {
    agent.destroy();
    await proxy.close().catch(() => {});
  }
}
