// `onion register` and `onion login`: the auth flows of docs/auth.md, computed here (the password
// never leaves this process) and carried to the auth server through a circuit built here.

import { type AuthExchange, type Circuit, fromUtf8, isHttpUrl, loginAccount, registerAccount, utf8 } from "@shallot/protocol";
import type { AuthOptions, RegisterOptions } from "../args.ts";
import { buildCircuit, describeConsensus } from "../build-circuit.ts";
import { fetchConsensus, resolveDirectory } from "../directory.ts";
import { CliError, UsageError } from "../errors.ts";
import { type Progress, progressOn, write } from "../output.ts";
import { readStdin } from "../read-input.ts";
import { httpTransport } from "../transport.ts";

export const DEV_AUTH_URL = "http://127.0.0.1:8789";

export function resolveAuthServer(server: string | undefined, env: Record<string, string | undefined> = process.env): string {
  const url = (server ?? env.SHALLOT_AUTH ?? DEV_AUTH_URL).replace(/\/+$/, "");
  if (!isHttpUrl(url)) throw new UsageError(`the auth server '${url}' is not an http(s) URL`);
  return url;
}

/** JSON requests to the auth server, each one through `circuit`. */
export function circuitExchange(circuit: Circuit, server: string): AuthExchange {
  return async (method, path, body) => {
    const headers: [string, string][] = [["accept", "application/json"]];
    if (body !== undefined) headers.push(["content-type", "application/json"]);
    const result = await circuit.request({ method, url: `${server}${path}`, headers, body: body === undefined ? new Uint8Array(0) : utf8(JSON.stringify(body)) });
    if (!result.ok) throw new CliError(result.error.error, `The exit could not reach the auth server at ${server} (${result.error.error}): ${result.error.message}`, result.error.status);
    try {
      return { status: result.response.status, body: JSON.parse(fromUtf8(result.response.body)) as unknown };
    } catch {
      throw new CliError("bad_auth_answer", `The auth server at ${server} answered ${method} ${path} with ${result.response.status} and no JSON: is it a Shallot auth server?`);
    }
  };
}

/** The auth server's `{ error, message }` as a one-line failure. */
function refused(what: string, answer: { status: number; body: unknown }): CliError {
  const body = answer.body as { error?: unknown; message?: unknown } | null;
  const code = typeof body?.error === "string" ? body.error : "auth_failed";
  const message = typeof body?.message === "string" ? body.message : `It answered ${answer.status}.`;
  return new CliError(code, `${what} refused by the auth server (${answer.status} ${code}): ${message}`, answer.status >= 500 ? answer.status : 502);
}

async function withCircuit<T>(options: AuthOptions, progress: Progress, use: (circuit: Circuit) => Promise<T>): Promise<T> {
  const config = resolveDirectory(options);
  const consensus = await fetchConsensus(config);
  progress.line(describeConsensus(consensus, config.url, Date.now()));
  const circuit = await buildCircuit(consensus, httpTransport(), { progress });
  try {
    return await use(circuit);
  } finally {
    await circuit.destroy().catch(() => {});
  }
}

export async function runRegister(options: RegisterOptions): Promise<number> {
  const server = resolveAuthServer(options.server);
  const password = await readPassword(options.passwordStdin, true);
  const progress = progressOn(process.stderr, options.verbosity);
  const answer = await withCircuit(options, progress, (circuit) => {
    progress.line(`registering ${options.username} (${options.mechanism}) at ${server}, sealed to the server's key`);
    return registerAccount(circuitExchange(circuit, server), { username: options.username, password }, options.mechanism);
  });
  if (answer.status !== 201) throw refused("registration", answer);
  await write(process.stdout, `registered ${options.username} (${options.mechanism}) at ${server}\n`);
  return 0;
}

export async function runLogin(options: AuthOptions): Promise<number> {
  const server = resolveAuthServer(options.server);
  const password = await readPassword(options.passwordStdin, false);
  const progress = progressOn(process.stderr, options.verbosity);
  const answer = await withCircuit(options, progress, (circuit) => {
    progress.line(`logging in as ${options.username} at ${server}`);
    return loginAccount(circuitExchange(circuit, server), { username: options.username, password });
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
