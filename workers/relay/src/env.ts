// Bindings and configuration of the relay worker, parsed with defaults (once per env object).

import { type Authority, AuthorityListError, type ExitPolicy, parseAuthorities } from "@shallot/protocol";
import * as v from "valibot";
import { isHttpUrl } from "@shallot/protocol";
import type { GatewayState } from "./gateway-state.ts";
import type { Relay } from "./relay.ts";

export interface Env {
  RELAY: DurableObjectNamespace<Relay>;
  /** The gateway's own state (its entry guards): one object, since the gateway is a stateless worker. */
  GATEWAY: DurableObjectNamespace<GatewayState>;
  /**
   * The directory authorities, pinned: `KEY@URL, KEY@URL, …` (Ed25519 keys, base64url). Relays
   * publish to every one; the gateway and the page accept a consensus signed by more than half.
   */
  DIRECTORY_AUTHORITIES?: string;
  /** "false" only on a dev mesh of one deployment: lets two relays of one deployment share a circuit. */
  FAMILY_RULE?: string;
  /** "false": this deployment's relays are never exits (exit policy none). */
  EXIT?: string;
  /** Bearer token for POST/DELETE /relays (a secret in production). */
  ADMIN_TOKEN?: string;
  /** The auth server the gateway's /auth/* uses when the request names none. */
  AUTH_URL?: string;
  /** That server's X25519 public key (base64url), pinned: /auth/* encrypts to it (Oblivious HTTP). */
  AUTH_PUBLIC_KEY?: string;
  /** Fewest SCRAM iterations a login accepts (default 100000). */
  AUTH_MIN_ITERATIONS?: string;
  /** Base URL of this deployment as other relays reach it, e.g. https://relay.example.workers.dev */
  PUBLIC_URL?: string;
  ALLOW_PRIVATE_DESTINATIONS?: string;
  ALLOW_PRIVATE_RELAYS?: string;
  MAX_BODY_BYTES?: string;
  PING_INTERVAL_MS?: string;
  CIRCUIT_IDLE_MS?: string;
  CIRCUIT_REUSE_MS?: string;
  SPARE_CIRCUITS?: string;
  EXIT_TIMEOUT_MS?: string;
  BODY_TIMEOUT_MS?: string;
  LINK_TIMEOUT_MS?: string;
  MAX_CIRCUITS?: string;
  CREATE_BURST?: string;
  CREATE_RATE?: string;
  RELAY_CREATE_BURST?: string;
  RELAY_CREATE_RATE?: string;
  MAX_INFLIGHT_CELLS?: string;
  MAX_INFLIGHT_BYTES?: string;
  EXIT_PORTS?: string;
  DOH_URL?: string;
  STREAM_HOLD_MS?: string;
  STREAM_CONNECT_TIMEOUT_MS?: string;
  STREAM_IDLE_MS?: string;
  MAX_STREAMS?: string;
  MAX_STREAMS_PER_CIRCUIT?: string;
}

const positive = (fallback: number) => v.optional(v.pipe(v.string(), v.regex(/^\d+$/), v.transform(Number), v.minValue(1)), String(fallback));
const count = (fallback: number) => v.optional(v.pipe(v.string(), v.regex(/^\d{1,3}$/), v.transform(Number), v.maxValue(16)), String(fallback));
const flag = v.optional(v.pipe(v.picklist(["true", "false", "1", "0"]), v.transform((s) => s === "true" || s === "1")), "false");

const on = v.optional(v.pipe(v.picklist(["true", "false", "1", "0"]), v.transform((s) => s === "true" || s === "1")), "true");

const ConfigSchema = v.object({
  ALLOW_PRIVATE_DESTINATIONS: flag,
  ALLOW_PRIVATE_RELAYS: flag,
  FAMILY_RULE: on,
  EXIT: on,
  MAX_BODY_BYTES: positive(8 * 1024 * 1024),
  PING_INTERVAL_MS: positive(10_000),
  CIRCUIT_IDLE_MS: positive(120_000),
  CIRCUIT_REUSE_MS: positive(10_000),
  SPARE_CIRCUITS: count(2),
  EXIT_TIMEOUT_MS: positive(30_000),
  BODY_TIMEOUT_MS: positive(30_000),
  LINK_TIMEOUT_MS: positive(5_000),
  MAX_CIRCUITS: positive(10_000),
  CREATE_BURST: positive(100),
  CREATE_RATE: positive(20),
  RELAY_CREATE_BURST: positive(400),
  RELAY_CREATE_RATE: positive(100),
  MAX_INFLIGHT_CELLS: positive(1024),
  MAX_INFLIGHT_BYTES: positive(96 * 1024 * 1024),
  EXIT_PORTS: v.optional(v.pipe(v.string(), v.regex(/^(\*|\d{1,5}(-\d{1,5})?(,\s*\d{1,5}(-\d{1,5})?)*)$/)), "80,443"),
  DOH_URL: v.optional(v.pipe(v.string(), v.url(), v.check(isHttpUrl)), "https://cloudflare-dns.com/dns-query"),
  STREAM_HOLD_MS: positive(1_000),
  STREAM_CONNECT_TIMEOUT_MS: positive(10_000),
  STREAM_IDLE_MS: positive(300_000),
  MAX_STREAMS: positive(256),
  MAX_STREAMS_PER_CIRCUIT: positive(64),
});

export interface RelayConfig {
  /** The exit may reach loopback, private and link-local destinations (dev only). */
  allowPrivateDestinations: boolean;
  /** EXTEND2 may reach relays on loopback, private and link-local addresses (a dev mesh lives there). */
  allowPrivateRelays: boolean;
  /** The pinned directory authorities; empty when DIRECTORY_AUTHORITIES is unset. */
  authorities: Authority[];
  familyRule: boolean;
  /** What this deployment's relays publish as their exit policy, and their exits do. */
  exitPolicy: ExitPolicy;
  maxBodyBytes: number;
  pingIntervalMs: number;
  circuitIdleMs: number;
  circuitReuseMs: number;
  /** Circuits the gateway keeps built ahead of time for onion-new-circuit requests (0 to 16). */
  spareCircuits: number;
  exitTimeoutMs: number;
  /** Deadline for a request's whole body to arrive (a /fetch body, a cell POSTed by a client or relay). */
  bodyTimeoutMs: number;
  /** Deadline of a hop-to-hop exchange of a control cell; a RELAY cell may also wait for the exit's fetch. */
  linkTimeoutMs: number;
  /** Circuits (key rows) one relay holds at most. */
  maxCircuits: number;
  /** CREATE2 per neighbour: burst, then per second. */
  createBurst: number;
  createRate: number;
  /** CREATE2 for the whole relay, whoever sends them. */
  relayCreateBurst: number;
  relayCreateRate: number;
  /** Cells one relay works on at once. */
  maxInflightCells: number;
  /** Bytes of cells and bodies held at once by the whole isolate (every relay and the gateway in it). */
  maxInflightBytes: number;
  /** The ports the exit connects to (streams) and fetches from: "80,443" (Tor's reduced policy), ranges, or "*". */
  exitPorts: string;
  /** Where the exit resolves names under the production policy (DNS-over-HTTPS, JSON). */
  dohUrl: string;
  /** How long the exit holds a DRAIN waiting for a backward stream cell. */
  streamHoldMs: number;
  streamConnectTimeoutMs: number;
  /** A stream with no byte either way for this long is closed. */
  streamIdleMs: number;
  maxStreams: number;
  maxStreamsPerCircuit: number;
}

const parsedConfigs = new WeakMap<Env, RelayConfig>();

/** Throws a readable error naming the bad variable; callers turn it into a 503. */
export function readConfig(env: Env): RelayConfig {
  // The env object is the same for the life of an isolate: parse it once, not on every cell.
  const cached = parsedConfigs.get(env);
  if (cached) return cached;
  const config = parseConfig(env);
  parsedConfigs.set(env, config);
  return config;
}

function parseConfig(env: Env): RelayConfig {
  const parsed = v.safeParse(ConfigSchema, env);
  if (!parsed.success) {
    const name = parsed.issues[0]?.path?.[0]?.key;
    throw new Error(`Configuration variable ${String(name)} is invalid.`);
  }
  const c = parsed.output;
  let authorities: Authority[] = [];
  if (env.DIRECTORY_AUTHORITIES) {
    try {
      authorities = parseAuthorities(env.DIRECTORY_AUTHORITIES);
    } catch (error) {
      if (error instanceof AuthorityListError) throw new Error(`Configuration variable DIRECTORY_AUTHORITIES is invalid: ${error.message}`);
      throw error;
    }
  }
  return {
    allowPrivateDestinations: c.ALLOW_PRIVATE_DESTINATIONS,
    allowPrivateRelays: c.ALLOW_PRIVATE_RELAYS || c.ALLOW_PRIVATE_DESTINATIONS,
    authorities,
    familyRule: c.FAMILY_RULE,
    exitPolicy: !c.EXIT ? "none" : c.ALLOW_PRIVATE_DESTINATIONS ? "all" : "public",
    maxBodyBytes: c.MAX_BODY_BYTES,
    pingIntervalMs: c.PING_INTERVAL_MS,
    circuitIdleMs: c.CIRCUIT_IDLE_MS,
    circuitReuseMs: c.CIRCUIT_REUSE_MS,
    spareCircuits: c.SPARE_CIRCUITS,
    exitTimeoutMs: c.EXIT_TIMEOUT_MS,
    bodyTimeoutMs: c.BODY_TIMEOUT_MS,
    linkTimeoutMs: c.LINK_TIMEOUT_MS,
    maxCircuits: c.MAX_CIRCUITS,
    createBurst: c.CREATE_BURST,
    createRate: c.CREATE_RATE,
    relayCreateBurst: c.RELAY_CREATE_BURST,
    relayCreateRate: c.RELAY_CREATE_RATE,
    maxInflightCells: c.MAX_INFLIGHT_CELLS,
    maxInflightBytes: c.MAX_INFLIGHT_BYTES,
    exitPorts: c.EXIT_PORTS,
    dohUrl: c.DOH_URL,
    streamHoldMs: c.STREAM_HOLD_MS,
    streamConnectTimeoutMs: c.STREAM_CONNECT_TIMEOUT_MS,
    streamIdleMs: c.STREAM_IDLE_MS,
    maxStreams: c.MAX_STREAMS,
    maxStreamsPerCircuit: c.MAX_STREAMS_PER_CIRCUIT,
  };
}
