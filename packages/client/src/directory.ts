// Which directory authorities this client pins, whether it keeps the family rule, where it keeps
// its guards, and the verified consensus. A consensus is used only when more than half of the
// pinned authorities signed it.

import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Authority, AuthorityListError, ConsensusUnavailableError, type FetchedConsensus, consensusFromAuthorities, isProtocolError, majorityOf, parseAuthorities } from "@shallot/protocol";
import type { CommonOptions } from "./args.ts";
import { CliError, UsageError, networkReason } from "./errors.ts";

/** Written by scripts/mesh.mjs each time the dev mesh starts (git-ignored): its authorities and knobs. */
export const DEV_NETWORK_FILE = fileURLToPath(new URL("../../../.wrangler/shallot-dev/network.json", import.meta.url));
const CONSENSUS_TIMEOUT_MS = 10_000;

export interface NetworkConfig {
  authorities: Authority[];
  /** Where the authorities came from, for messages: "--authority", "SHALLOT_AUTHORITIES" or the file. */
  source: string;
  familyRule: boolean;
  /** Where the guards are kept. */
  stateDir: string;
}

type Env = Record<string, string | undefined>;

function parse(text: string, source: string): Authority[] {
  try {
    return parseAuthorities(text);
  } catch (error) {
    if (error instanceof AuthorityListError) throw new UsageError(`the authorities from ${source}: ${error.message.replace(/\.$/, "")}`);
    throw error;
  }
}

/** The default state directory: $SHALLOT_STATE_DIR, else $XDG_STATE_HOME/shallot, else ~/.local/state/shallot. */
export const defaultStateDir = (env: Env): string => env.SHALLOT_STATE_DIR || join(env.XDG_STATE_HOME || join(homedir(), ".local", "state"), "shallot");

/** Flags first, then the environment, then the dev mesh's network file. */
export function resolveNetwork(options: Pick<CommonOptions, "authorities" | "familyRule" | "stateDir">, env: Env = process.env, devFile = DEV_NETWORK_FILE): NetworkConfig {
  const stateDir = options.stateDir ?? defaultStateDir(env);
  const familyFromEnv = env.SHALLOT_FAMILY_RULE === undefined || env.SHALLOT_FAMILY_RULE === "" ? undefined : env.SHALLOT_FAMILY_RULE !== "off";
  if (options.authorities?.length) {
    return { authorities: parse(options.authorities.join(","), "--authority"), source: "--authority", familyRule: options.familyRule ?? familyFromEnv ?? true, stateDir };
  }
  if (env.SHALLOT_AUTHORITIES) {
    return { authorities: parse(env.SHALLOT_AUTHORITIES, "SHALLOT_AUTHORITIES"), source: "SHALLOT_AUTHORITIES", familyRule: options.familyRule ?? familyFromEnv ?? true, stateDir };
  }
  let stored: { authorities?: unknown; familyRule?: unknown } | null;
  try {
    stored = JSON.parse(readFileSync(devFile, "utf8"));
  } catch {
    throw new CliError(
      "directory_unconfigured",
      `No directory authorities to fetch and check the consensus with: pass --authority KEY@URL for each (their Ed25519 public keys, base64url) or set SHALLOT_AUTHORITIES (the dev mesh writes its own to ${devFile} when 'npm run dev' starts).`,
      503,
    );
  }
  const list = Array.isArray(stored?.authorities) ? (stored.authorities as { key?: unknown; url?: unknown }[]).map((a) => `${String(a.key)}@${String(a.url)}`).join(",") : "";
  return { authorities: parse(list, devFile), source: devFile, familyRule: options.familyRule ?? familyFromEnv ?? stored?.familyRule !== false, stateDir };
}

async function getConsensus(authority: Authority): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(`${authority.url}/consensus`, { signal: AbortSignal.timeout(CONSENSUS_TIMEOUT_MS) });
  } catch (error) {
    throw new Error(networkReason(error));
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`answered ${response.status} to GET /consensus`);
  }
  try {
    return await response.json();
  } catch {
    throw new Error("answered GET /consensus with something other than JSON");
  }
}

/** GET <authority>/consensus from every pinned authority at once; the newest that verifies. */
export async function fetchConsensus(config: NetworkConfig, now: () => number = Date.now): Promise<FetchedConsensus> {
  try {
    return await consensusFromAuthorities({ authorities: config.authorities, now, get: getConsensus });
  } catch (error) {
    if (isProtocolError(error) && error.code === "bad_signature") {
      const n = config.authorities.length;
      throw new CliError("bad_signature", `No consensus the authorities served is signed by more than half (${majorityOf(n)}) of the ${n} pinned authorities (from ${config.source}): ${error.message} It was not used.`, 503);
    }
    if (isProtocolError(error)) throw new CliError(error.code, `The consensus was refused: ${error.message}`, 503);
    if (error instanceof ConsensusUnavailableError) {
      const each = error.failures.map(({ authority, error: why }) => `${authority.url} (${why instanceof Error ? why.message : String(why)})`).join(", ");
      throw new CliError("directory_unreachable", `No directory authority could be reached: ${each}.`, 503);
    }
    throw error;
  }
}
