// The command line: which command, with which options. Pure — no I/O, no environment — so every
// rule here is unit tested; defaults that need the environment or the disk live in directory.ts
// and the commands.

import { type ParseArgsConfig, parseArgs } from "node:util";
import { MECHANISMS, type Mechanism, SCRAM_DEFAULT_ITERATIONS, SCRAM_MAX_ITERATIONS, SCRAM_MIN_ITERATIONS, SCRAM_SHA_256, isMechanism } from "@shallot/protocol";
import { UsageError } from "./errors.ts";

export const COMMANDS = ["fetch", "circuit", "proxy", "register", "login"] as const;
export type CommandName = (typeof COMMANDS)[number];
const isCommand = (value: string): value is CommandName => (COMMANDS as readonly string[]).includes(value);

/** Progress on stderr: only when it is a terminal (auto), always (verbose) or never (silent). */
export type Verbosity = "auto" | "verbose" | "silent";

export interface CommonOptions {
  /** --authority KEY@URL, as typed (repeatable). */
  authorities?: string[];
  /** --family-rule on|off. */
  familyRule?: boolean;
  /** --state-dir DIR: where the entry guards are kept across runs. */
  stateDir?: string;
  verbosity: Verbosity;
}

/** Where a piece of request body comes from; `path` "-" is stdin. */
export type DataSource = { kind: "text"; text: string } | { kind: "file"; path: string; stripNewlines: boolean };

export interface FetchOptions extends CommonOptions {
  url: string;
  /** As typed with -X; undefined picks GET, POST (with data) or HEAD (with -I). */
  method?: string;
  /** The -H arguments as typed, in order. */
  headers: string[];
  /** -A, --user-agent. */
  userAgent?: string;
  /** The -d / --data-binary arguments, in the order given. */
  data: DataSource[];
  include: boolean;
  head: boolean;
  fail: boolean;
  output?: string;
  newCircuit: boolean;
  /** https:// only: trust the certificates of this PEM file instead of the system's roots. */
  cacert?: string;
}

export interface ProxyOptions extends CommonOptions {
  host: string;
  /** The HTTP proxy's port (CONNECT and absolute-form requests); null: no HTTP listener. */
  port: number | null;
  /** The SOCKS5 port; null: no SOCKS listener. */
  socksPort: number | null;
}

export interface AuthOptions extends CommonOptions {
  username: string;
  server?: string;
  /** The auth server's X25519 public key (base64url), pinned; needed for a server other than the default. */
  serverKey?: string;
  passwordStdin: boolean;
  /** register: the mechanism to register with; login: the only one accepted (no downgrade). */
  mechanism: Mechanism;
  /** login: fewer SCRAM iterations are refused (default 100,000). */
  minIterations?: number;
  /** An https:// server: trust the certificates of this PEM file instead of the system's roots. */
  cacert?: string;
}

export type RegisterOptions = AuthOptions;

export type Invocation =
  | { command: "help"; text: string }
  | { command: "fetch"; options: FetchOptions }
  | { command: "circuit"; options: CommonOptions }
  | { command: "proxy"; options: ProxyOptions }
  | { command: "register"; options: RegisterOptions }
  | { command: "login"; options: AuthOptions };

export const DEFAULT_PROXY_PORT = 8118;
export const DEFAULT_PROXY_HOST = "127.0.0.1";

const COMMON = {
  authority: { type: "string", multiple: true },
  "family-rule": { type: "string" },
  "state-dir": { type: "string" },
  verbose: { type: "boolean", short: "v" },
  silent: { type: "boolean", short: "s" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

const COMMON_HELP = `Network options:
  --authority KEY@URL    a directory authority and its pinned Ed25519 public key (base64url); repeat it for
                         each one. A consensus is used only when more than half of them signed it.
                         (default: $SHALLOT_AUTHORITIES, KEY@URL entries separated by commas or spaces,
                         else the dev mesh's, from .wrangler/shallot-dev/network.json)
  --family-rule on|off   never two relays of one deployment on a circuit (default: $SHALLOT_FAMILY_RULE,
                         else on; the dev mesh of one deployment turns it off in its network.json)
  --state-dir DIR        where the entry guards are kept across runs (default: $SHALLOT_STATE_DIR, else
                         $XDG_STATE_HOME/shallot or ~/.local/state/shallot)
  -v, --verbose          show progress on stderr even when it is not a terminal
  -s, --silent           never show progress
  -h, --help             this help`;

const AUTH_SERVER_HELP = `      --server URL       the auth server (default: $SHALLOT_AUTH, else http://127.0.0.1:8789)
      --server-key KEY   its X25519 public key, base64url, obtained out of band (default: $SHALLOT_AUTH_KEY,
                         else the dev mesh's key in .wrangler/shallot-dev/auth-hpke-key.json); required
                         for a --server other than the default. It is never fetched through the network.`;

export const HELP: Record<CommandName | "main", string> = {
  main: `onion — use the Shallot onion network from your own machine. The circuit is built here: the
entry relay sees only ciphertext, and no single relay knows both you and the destination.

Usage: onion <command> [options]

Commands:
  fetch URL              send one HTTP request through a fresh circuit (curl-like)
  circuit                show the consensus and build a circuit, hop by hop
  proxy                  a local HTTP proxy (CONNECT too) and SOCKS5 port, through circuits
  register USERNAME      create an account on the auth server, through a circuit
  login USERNAME         log in through a circuit and print the session token

Run 'onion <command> --help' for a command's options.

${COMMON_HELP}`,

  fetch: `Usage: onion fetch [options] URL

Sends one HTTP request through a circuit built for it and writes the response body to stdout.

An https:// URL goes over a stream: the exit opens a TCP connection to the host and port (it
resolves the name itself) and carries TLS that runs here, so it sees neither the URL nor the
headers nor the bodies. The certificate is checked against the system's trust store and Node's
roots (or --cacert), with the host name. An http:// URL is sent as a request the exit performs:
the exit reads it, and forwards only the headers listed below.

  -X, --request METHOD   GET, HEAD, POST, PUT, PATCH or DELETE (default GET, or POST with data)
  -H, --header 'Name: value'
                         add a request header (repeatable); 'Name;' sends it empty, 'Name:' omits it
  -A, --user-agent NAME  send this user-agent (none is sent otherwise)
  -d, --data DATA        request body (repeatable, joined with &); -d @FILE reads FILE without newlines
      --data-binary DATA request body as is; @FILE reads FILE byte for byte, @- reads stdin
  -i, --include          print the status line and headers before the body
  -I, --head             send HEAD and print the status line and headers
  -o, --output FILE      write the body to FILE instead of stdout
  -f, --fail             exit 22 when the origin answers 400 or more (the body is not printed)
      --new-circuit      build a new circuit (every 'onion fetch' already does; kept for symmetry
                         with the gateway's onion-new-circuit header)
      --cacert FILE      https://: trust only the CA certificates of this PEM file (as curl)

With data and no Content-Type header, the type is application/x-www-form-urlencoded (as curl).
For http:// URLs only these request headers cross the circuit (exits forward no others): Accept, Authorization,
Cache-Control, Content-Encoding, Content-Language, Content-Type, Cookie, If-Match,
If-Modified-Since, If-None-Match, If-Range, If-Unmodified-Since, Range, User-Agent. Any other
-H header is not sent (-v names it). No User-Agent is sent unless you give one.

Over https:// every -H header is sent (to the origin only).

Exit status: 0 on an answer from the origin, 1 when the request could not be carried (a
certificate that does not verify included),
2 for bad arguments, 22 with --fail and a status of 400 or more.

${COMMON_HELP}`,

  circuit: `Usage: onion circuit [options]

Fetches the consensus from the directory authorities and checks their signatures against the
pinned keys (which authorities signed it), lists its relays with their flags and this client's
entry guards, then builds a three-hop circuit — entering through a guard, leaving through a relay
with the Exit flag — and prints each hop with its flags and handshake time. The circuit is destroyed
at the end.

${COMMON_HELP}`,

  proxy: `Usage: onion proxy [options]

A local HTTP proxy, and a SOCKS5 port, whose traffic goes through circuits built here.

CONNECT (curl -x, HTTPS_PROXY, a browser's HTTPS proxy setting) and SOCKS5 open a stream: the exit
connects to the host and port (it resolves names itself, as socks5h) and carries bytes it cannot
read when they are TLS. Streams share a circuit for 10 s, up to 48 at once; streams of other
SOCKS5 user names and passwords (or CONNECT Proxy-Authorization values) never share one, as Tor's
IsolateSOCKSAuth. A refused CONNECT is answered with JSON { error, message }: 403
destination_refused (the exit policy), 502 (resolve_failed, connection_refused, …), 504
destination_timeout; SOCKS5 answers with its reply codes.

An absolute-form request for an http:// (or https://) URL (http_proxy) is sent as one request the
exit performs itself, reading it: one circuit reused for 10 s, then replaced; a failed one is
rebuilt. Send the header 'onion-new-circuit: 1' to get a new circuit for one request.

  -p, --port PORT        HTTP proxy port (default ${DEFAULT_PROXY_PORT} when no --socks-port is given; 0 picks a free one)
      --socks-port PORT  SOCKS5 port (none by default; Tor's is 9050); with --port, both listen
      --host ADDRESS     address to bind (default ${DEFAULT_PROXY_HOST}; anyone who can reach it can use it)

  curl -x http://127.0.0.1:${DEFAULT_PROXY_PORT} https://example.com/
  HTTPS_PROXY=http://127.0.0.1:${DEFAULT_PROXY_PORT} curl https://example.com/
  onion proxy --socks-port 9050 &  curl --socks5-hostname 127.0.0.1:9050 https://example.com/

${COMMON_HELP}`,

  register: `Usage: onion register [options] USERNAME

Creates an account on the auth server. The verifier (SCRAM-SHA-256 salt and keys, or H(password) for
the seed's scheme) is computed here from the password (which never leaves this process) and sent
through a circuit, encrypted end to end to the auth server's pinned key (Oblivious HTTP).

      --mechanism NAME   ${MECHANISMS.join(", ")} (default ${SCRAM_SHA_256}); the seed's
                         sha* scheme stores H(password), which is as good as the password to a thief
${AUTH_SERVER_HELP}
      --password-stdin   read the password from stdin (required when stdin is not a terminal)
      --cacert FILE      an https:// server: trust only the CA certificates of this PEM file

An https:// server is reached over a stream (TLS runs here; the exit sees only its host and port);
an http:// one by requests the exit performs. Either way the messages are sealed to its key.

${COMMON_HELP}`,

  login: `Usage: onion login [options] USERNAME

Logs in by challenge-response (POST /challenge, POST /login) through a circuit, encrypted end to end
to the auth server's pinned key, checks the SCRAM server signature, and prints the session token on
stdout. A challenge for another mechanism than --mechanism, or with fewer SCRAM iterations than
--min-iterations, is refused; a puzzle the server asks for (after failed logins) is solved here.

      --mechanism NAME   the mechanism you registered with (default ${SCRAM_SHA_256})
      --min-iterations N refuse SCRAM challenges with fewer iterations (default ${SCRAM_DEFAULT_ITERATIONS})
${AUTH_SERVER_HELP}
      --password-stdin   read the password from stdin (required when stdin is not a terminal)
      --cacert FILE      an https:// server: trust only the CA certificates of this PEM file

${COMMON_HELP}`,
};

/** Node's parseArgs messages are long; keep their first sentence and point at --help. */
/**
 * Options whose value is a base64url key, which may begin with "-": parseArgs would call
 * `--authority -Xyz…@url` ambiguous, so such a pair is passed on as `--authority=-Xyz…@url`.
 */
const KEY_OPTIONS: ReadonlySet<string> = new Set(["--authority", "--server-key"]);

function joinKeyValues(args: string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") return [...joined, ...args.slice(i)];
    if (KEY_OPTIONS.has(arg) && i + 1 < args.length) joined.push(`${arg}=${args[++i]}`);
    else joined.push(arg);
  }
  return joined;
}

function parse<const O extends ParseArgsConfig["options"]>(command: CommandName, args: string[], options: O) {
  try {
    return parseArgs({ args: joinKeyValues(args), options, allowPositionals: true, strict: true, tokens: true });
  } catch (error) {
    const message = error instanceof Error ? error.message.split(/\.\s/)[0]!.replace(/\.$/, "") : String(error);
    throw new UsageError(`${message} (see 'onion ${command} --help')`);
  }
}

function common(values: { authority?: string[]; "family-rule"?: string; "state-dir"?: string; verbose?: boolean; silent?: boolean }): CommonOptions {
  if (values.verbose && values.silent) throw new UsageError("--verbose and --silent cannot be used together");
  const rule = values["family-rule"];
  if (rule !== undefined && rule !== "on" && rule !== "off") throw new UsageError(`--family-rule is on or off, not '${rule}'`);
  if (values["state-dir"] === "") throw new UsageError("--state-dir needs a directory");
  return {
    authorities: values.authority,
    familyRule: rule === undefined ? undefined : rule === "on",
    stateDir: values["state-dir"],
    verbosity: values.verbose ? "verbose" : values.silent ? "silent" : "auto",
  };
}

function onePositional(command: CommandName, positionals: string[], what: string): string {
  if (positionals.length === 0) throw new UsageError(`${what} is missing (see 'onion ${command} --help')`);
  if (positionals.length > 1) throw new UsageError(`one ${what} only; unexpected '${positionals[1]}'`);
  return positionals[0]!;
}

export function parseInvocation(argv: readonly string[]): Invocation {
  const [first, ...rest] = argv;
  if (first === undefined || first === "--help" || first === "-h") return { command: "help", text: HELP.main };
  if (first === "help") {
    const topic = rest[0];
    if (topic === undefined) return { command: "help", text: HELP.main };
    if (!isCommand(topic)) throw new UsageError(`unknown command '${topic}' (see 'onion --help')`);
    return { command: "help", text: HELP[topic] };
  }
  if (!isCommand(first)) throw new UsageError(`unknown command '${first}' (see 'onion --help')`);
  const args = [...rest];
  if (args.includes("--help") || args.includes("-h")) return { command: "help", text: HELP[first] };

  switch (first) {
    case "fetch":
      return { command: "fetch", options: parseFetch(args) };
    case "circuit": {
      const { values, positionals } = parse("circuit", args, COMMON);
      if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (see 'onion circuit --help')`);
      return { command: "circuit", options: common(values) };
    }
    case "proxy":
      return { command: "proxy", options: parseProxy(args) };
    case "register":
    case "login":
      return { command: first, options: parseAuth(first, args) };
  }
}

const AUTH_OPTIONS = {
  ...COMMON,
  mechanism: { type: "string" },
  server: { type: "string" },
  "server-key": { type: "string" },
  "min-iterations": { type: "string" },
  "password-stdin": { type: "boolean" },
  cacert: { type: "string" },
} as const satisfies ParseArgsConfig["options"];

function parseAuth(command: "register" | "login", args: string[]): AuthOptions {
  const { values, positionals } = parse(command, args, AUTH_OPTIONS);
  const mechanism = values.mechanism ?? SCRAM_SHA_256;
  if (!isMechanism(mechanism)) throw new UsageError(`unknown mechanism '${mechanism}'; use one of ${MECHANISMS.join(", ")}`);
  let minIterations: number | undefined;
  if (values["min-iterations"] !== undefined) {
    if (command === "register") throw new UsageError("--min-iterations is a login option (registrations use 100000 iterations)");
    const text = values["min-iterations"];
    if (!/^\d{1,6}$/.test(text) || Number(text) < SCRAM_MIN_ITERATIONS || Number(text) > SCRAM_MAX_ITERATIONS) {
      throw new UsageError(`--min-iterations must be a number from ${SCRAM_MIN_ITERATIONS} to ${SCRAM_MAX_ITERATIONS}, not '${text}'`);
    }
    minIterations = Number(text);
  }
  const username = onePositional(command, positionals, "USERNAME");
  return {
    ...common(values),
    username,
    server: values.server,
    serverKey: values["server-key"],
    passwordStdin: values["password-stdin"] ?? false,
    mechanism,
    ...(minIterations === undefined ? {} : { minIterations }),
    ...(values.cacert === undefined ? {} : { cacert: nonEmpty(values.cacert, "--cacert") }),
  };
}

function parseFetch(args: string[]): FetchOptions {
  const { values, positionals, tokens } = parse("fetch", args, {
    ...COMMON,
    request: { type: "string", short: "X" },
    header: { type: "string", short: "H", multiple: true },
    "user-agent": { type: "string", short: "A" },
    data: { type: "string", short: "d", multiple: true },
    "data-binary": { type: "string", multiple: true },
    include: { type: "boolean", short: "i" },
    head: { type: "boolean", short: "I" },
    output: { type: "string", short: "o" },
    fail: { type: "boolean", short: "f" },
    "new-circuit": { type: "boolean" },
    cacert: { type: "string" },
  });
  const url = onePositional("fetch", positionals, "URL");
  // -d and --data-binary keep their relative order, as curl joins them.
  const data: DataSource[] = [];
  for (const token of tokens) {
    if (token.kind !== "option" || token.value === undefined) continue;
    if (token.name === "data") data.push(dataSource(token.value, true));
    if (token.name === "data-binary") data.push(dataSource(token.value, false));
  }
  if (values.output === "") throw new UsageError("--output needs a file name");
  return {
    ...common(values),
    url,
    method: values.request,
    headers: values.header ?? [],
    userAgent: values["user-agent"],
    data,
    include: values.include ?? false,
    head: values.head ?? false,
    fail: values.fail ?? false,
    output: values.output,
    newCircuit: values["new-circuit"] ?? false,
    ...(values.cacert === undefined ? {} : { cacert: nonEmpty(values.cacert, "--cacert") }),
  };
}

function nonEmpty(value: string, option: string): string {
  if (value === "") throw new UsageError(`${option} needs a file name`);
  return value;
}

/** `@FILE` names a file (`@-` stdin); -d strips newlines from a file as curl does, --data-binary keeps every byte. */
export function dataSource(value: string, isData: boolean): DataSource {
  if (!value.startsWith("@")) return { kind: "text", text: value };
  const path = value.slice(1);
  if (path === "") throw new UsageError(`'${value}' names no file; use @FILE or @- for stdin`);
  return { kind: "file", path, stripNewlines: isData };
}

function parseProxy(args: string[]): ProxyOptions {
  const { values, positionals } = parse("proxy", args, { ...COMMON, port: { type: "string", short: "p" }, "socks-port": { type: "string" }, host: { type: "string" } });
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (see 'onion proxy --help')`);
  const socksPort = values["socks-port"] === undefined ? null : parsePort(values["socks-port"], "--socks-port");
  // The HTTP port when asked for, or when no port is named at all.
  const port = values.port !== undefined ? parsePort(values.port) : socksPort === null ? DEFAULT_PROXY_PORT : null;
  if (port !== null && port !== 0 && port === socksPort) throw new UsageError(`--port and --socks-port cannot both be ${port}`);
  return { ...common(values), host: values.host ?? DEFAULT_PROXY_HOST, port, socksPort };
}

export function parsePort(text: string, option = "--port"): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new UsageError(`${option} must be a number from 0 to 65535, not '${text}'`);
  return Number(text);
}
