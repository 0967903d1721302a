// `onion register` and `onion login`: the auth flows of docs/auth.md, computed here (the password
// never leaves this process) and carried to the auth server through a circuit built here, encrypted
// end to end (Oblivious HTTP) to the server's key from this machine's configuration. An https://
// server is reached over a stream with TLS run here (the exit sees its host and port only); an
// http:// one by requests the exit performs.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Bytes, type EncapsulatedPost, OHTTP_PATH, fromBase64Url, fromUtf8, isHttpUrl, loginAccount, ohttpChannel, registerAccount } from "@shallot/protocol";
import type { AuthOptions } from "../args.ts";
import { resolveNetwork } from "../directory.ts";
import { CliError, UsageError } from "../errors.ts";
import { type CliOnionProxy, cliOnionProxy } from "../onion-proxy.ts";
import { type Progress, progressOn, shortId, write } from "../output.ts";
import { readStdin } from "../read-input.ts";
import { StreamAgent, openTlsStream, sendHttps } from "../streams/https.ts";
import { describeRefusal } from "../streams/refusal.ts";
import { trustContext } from "../streams/tls.ts";

/** Largest answer read from the auth server (its answers are a few hundred bytes). */
export const MAX_AUTH_ANSWER_BYTES = 256 * 1024;

export const DEV_AUTH_URL = "http://127.0.0.1:8789";
/** Written by scripts/mesh.mjs the first time the dev mesh runs (git-ignored): its publicKey is the dev auth server's. */
export const DEV_AUTH_KEY_FILE = fileURLToPath(new URL("../../../../.wrangler/shallot-dev/auth-hpke-key.json", import.meta.url));

export interface AuthServer {
  url: string;
  publicKey: Bytes;
  /** Where the key came from, for messages: "--server-key", "SHALLOT_AUTH_KEY" or the dev key file. */
  keySource: string;
}

const trim = (url: string) => url.replace(/\/+$/, "");

/**
 * The auth server and the key to encrypt to: --server / $SHALLOT_AUTH / the dev mesh's URL, and
 * --server-key / $SHALLOT_AUTH_KEY / the dev mesh's key file. A key from the environment or the file
 * belongs to the default server only: naming another server needs --server-key.
 */
export function resolveAuthServer(options: { server?: string; serverKey?: string }, env: Record<string, string | undefined> = process.env, devKeyFile = DEV_AUTH_KEY_FILE): AuthServer {
  const pinnedUrl = trim(env.SHALLOT_AUTH ?? DEV_AUTH_URL);
  const url = trim(options.server ?? pinnedUrl);
  if (!isHttpUrl(url)) throw new UsageError(`the auth server '${url}' is not an http(s) URL`);
  if (options.serverKey !== undefined) return { url, publicKey: parseKey(options.serverKey, "--server-key"), keySource: "--server-key" };
  if (url !== pinnedUrl) {
    throw new UsageError(`${url} is not the configured auth server (${pinnedUrl}); pass --server-key KEY, its public key as you obtained it out of band (it is never fetched through the network)`);
  }
  if (env.SHALLOT_AUTH_KEY) return { url, publicKey: parseKey(env.SHALLOT_AUTH_KEY, "SHALLOT_AUTH_KEY"), keySource: "SHALLOT_AUTH_KEY" };
  if (url !== DEV_AUTH_URL) throw new UsageError(`no key for the auth server ${url}: set SHALLOT_AUTH_KEY or pass --server-key KEY`);
  let stored: unknown;
  try {
    stored = JSON.parse(readFileSync(devKeyFile, "utf8"));
  } catch {
    throw new CliError(
      "auth_unconfigured",
      `No key for the auth server ${url}: pass --server-key KEY (its X25519 public key, base64url) or set SHALLOT_AUTH_KEY (the dev mesh keeps its key in ${devKeyFile}, made by 'npm run dev').`,
      503,
    );
  }
  const publicKey = (stored as { publicKey?: unknown } | null)?.publicKey;
  if (typeof publicKey !== "string") throw new CliError("auth_unconfigured", `${devKeyFile} has no publicKey; pass --server-key KEY.`, 503);
  return { url, publicKey: parseKey(publicKey, devKeyFile), keySource: devKeyFile };
}

function parseKey(text: string, source: string): Bytes {
  const trimmed = text.trim();
  if (/^[A-Za-z0-9_-]{43}$/.test(trimmed)) {
    const key = fromBase64Url(trimmed);
    if (key.length === 32) return key;
  }
  throw new UsageError(`the auth server key from ${source} is not an X25519 public key (32 bytes, base64url: 43 characters)`);
}

/** Encapsulated requests to the auth server, each one through `circuit`. */
/**
 * The encapsulated POSTs to `server` as requests of `proxy`: one circuit, reused; a circuit that
 * fails before the request reached the exit (a relay listed but gone) is replaced and the POST sent
 * again, never one that may have reached it.
 */
export function proxyPost(proxy: CliOnionProxy, server: string, teardown: Promise<unknown>[]): EncapsulatedPost {
  return async (body, contentType) => {
    const { result } = await proxy.request({ method: "POST", url: `${server}${OHTTP_PATH}`, headers: [["content-type", contentType]], body }, { waitUntil: (promise) => void teardown.push(promise.catch(() => {})) });
    if (!result.ok) throw new CliError(result.error.error, `The exit could not reach the auth server at ${server} (${result.error.error}): ${result.error.message}`, result.error.status);
    const { status, headers, body: answer } = result.response;
    return { status, contentType: headers.find(([name]) => name.toLowerCase() === "content-type")?.[1] ?? null, body: answer };
  };
}

/** The auth server's `{ error, message }` as a one-line failure. */
function refused(what: string, answer: { status: number; body: unknown }): CliError {
  const body = answer.body as { error?: unknown; message?: unknown } | null;
  const code = typeof body?.error === "string" ? body.error : "auth_failed";
  const message = typeof body?.message === "string" ? body.message : `It answered ${answer.status}.`;
  return new CliError(code, `${what} refused by the auth server (${answer.status} ${code}): ${message}`, answer.status >= 500 ? answer.status : 502);
}

/** The encapsulated POSTs to `server`, through a circuit built for them; everything is torn down after `use`. */
async function withPost<T>(options: AuthOptions, server: AuthServer, progress: Progress, use: (post: EncapsulatedPost) => Promise<T>): Promise<T> {
  const config = resolveNetwork(options);
  if (new URL(server.url).protocol === "https:") {
    const context = trustContext(options.cacert);
    const proxy = cliOnionProxy(config, progress);
    const agent = new StreamAgent(async () => {
      try {
        const { socket, path } = await openTlsStream(proxy, new URL(server.url), context);
        progress.line(`TLS with ${new URL(server.url).host} over a stream through circuit ${path.map(shortId).join(",")}, certificate verified`);
        return socket;
      } catch (error) {
        if (error instanceof CliError) throw error;
        const refusal = describeRefusal(error, new URL(server.url).host);
        throw new CliError(refusal.error, refusal.message, refusal.status);
      }
    });
    try {
      return await use(streamPost(agent, server.url));
    } finally {
      agent.destroy();
      await proxy.close().catch(() => {});
    }
  }
  const proxy = cliOnionProxy(config, progress);
  const teardown: Promise<unknown>[] = [];
  try {
    return await use(proxyPost(proxy, server.url, teardown));
  } finally {
    await proxy.close().catch(() => {});
    await Promise.all(teardown);
  }
}

/** Encapsulated requests to an https:// auth server, over TLS on streams of `agent`. */
export function streamPost(agent: StreamAgent, server: string): EncapsulatedPost {
  const url = new URL(`${server}${OHTTP_PATH}`);
  return async (body, contentType) => {
    let response: Awaited<ReturnType<typeof sendHttps>>;
    try {
      response = await sendHttps(agent, url, { method: "POST", headers: [["content-type", contentType]], body });
    } catch (error) {
      if (error instanceof CliError) throw error;
      throw new CliError("auth_unreachable", `The connection to the auth server at ${server} failed before an answer.`);
    }
    const chunks: Buffer[] = [];
    let length = 0;
    try {
      for await (const chunk of response as AsyncIterable<Buffer>) {
        length += chunk.length;
        if (length > MAX_AUTH_ANSWER_BYTES) {
          response.destroy();
          throw new CliError("auth_answer_too_large", `The auth server at ${server} answered more than ${MAX_AUTH_ANSWER_BYTES} bytes.`);
        }
        chunks.push(chunk);
      }
    } catch (error) {
      if (error instanceof CliError) throw error;
      throw new CliError("auth_unreachable", `The connection to the auth server at ${server} failed during its answer.`);
    }
    const type = response.headers["content-type"];
    return { status: response.statusCode ?? 0, contentType: typeof type === "string" ? type : null, body: new Uint8Array(Buffer.concat(chunks)) as Bytes };
  };
}

export async function runRegister(options: AuthOptions): Promise<number> {
  const server = resolveAuthServer(options);
  const password = await readPassword(options.passwordStdin, true);
  const progress = progressOn(process.stderr, options.verbosity);
  const answer = await withPost(options, server, progress, async (post) => {
    progress.line(`registering ${options.username} (${options.mechanism}) at ${server.url}, encrypted to its key from ${server.keySource}`);
    return registerAccount(await ohttpChannel(server, post), { username: options.username, password }, options.mechanism);
  });
  if (answer.status !== 201) throw refused("registration", answer);
  await write(process.stdout, `registered ${options.username} (${options.mechanism}) at ${server.url}\n`);
  return 0;
}

export async function runLogin(options: AuthOptions): Promise<number> {
  const server = resolveAuthServer(options);
  const password = await readPassword(options.passwordStdin, false);
  const progress = progressOn(process.stderr, options.verbosity);
  const answer = await withPost(options, server, progress, async (post) => {
    progress.line(`logging in as ${options.username} at ${server.url}, encrypted to its key from ${server.keySource}`);
    const channel = await ohttpChannel(server, post);
    return loginAccount(channel, { username: options.username, password }, { mechanism: options.mechanism, minIterations: options.minIterations });
  });
  if (answer.status !== 200) throw refused("login", answer);
  const { token, expiresAt } = answer.body as { token: string; expiresAt: number };
  progress.line(`logged in; the token expires at ${new Date(expiresAt).toISOString()}`);
  await write(process.stdout, `${token}\n`);
  return 0;
}

/** From stdin with --password-stdin (one trailing newline dropped), else a hidden prompt on the terminal. */
async function readPassword(fromStdin: boolean, confirm: boolean): Promise<string> {
  let password: string;
  if (fromStdin) {
    password = fromUtf8(await readStdin()).replace(/\r?\n$/, "");
  } else {
    if (!process.stdin.isTTY) throw new UsageError("stdin is not a terminal: pipe the password in and pass --password-stdin");
    password = await promptHidden("Password: ");
    if (confirm && password !== "" && (await promptHidden("Password again: ")) !== password) throw new UsageError("the two passwords differ");
  }
  if (password === "") throw new UsageError("the password is empty");
  return password;
}

/** Reads one line from the terminal without echoing it. Ctrl-C aborts. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let text = "";
    const finish = (error?: Error) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      if (error) reject(error);
      else resolve(text);
    };
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString("utf8")) {
        if (char === "\r" || char === "\n" || char === "\u0004") return finish();
        if (char === "\u0003") return finish(new CliError("interrupted", "interrupted"));
        if (char === "\u007f" || char === "\b") text = [...text].slice(0, -1).join("");
        else if (char >= " ") text += char;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on("data", onData);
  });
}
