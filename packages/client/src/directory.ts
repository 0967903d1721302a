// Where the directory is, which key it must have signed with, and its verified consensus.
// A consensus whose signature does not verify against the pinned key is never used.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Bytes, type ConsensusDocument, fromBase64Url, isHttpUrl, isProtocolError, verifyConsensus } from "@shallot/protocol";
import { CliError, UsageError, networkReason } from "./errors.ts";

export const DEV_DIRECTORY_URL = "http://127.0.0.1:8788";
/** Written by scripts/mesh.mjs the first time the dev mesh runs (git-ignored). */
export const DEV_DIRECTORY_KEY_FILE = fileURLToPath(new URL("../../../.wrangler/shallot-dev/directory-key.json", import.meta.url));
const CONSENSUS_TIMEOUT_MS = 10_000;

export interface DirectoryConfig {
  url: string;
  key: Bytes;
  /** Where the key came from, for error messages: "--directory-key", "SHALLOT_DIRECTORY_KEY" or the file. */
  keySource: string;
}

/** Flags first, then SHALLOT_DIRECTORY / SHALLOT_DIRECTORY_KEY, then the dev mesh's defaults. */
export function resolveDirectory(
  options: { directory?: string; directoryKey?: string },
  env: Record<string, string | undefined> = process.env,
  devKeyFile = DEV_DIRECTORY_KEY_FILE,
): DirectoryConfig {
  const url = (options.directory ?? env.SHALLOT_DIRECTORY ?? DEV_DIRECTORY_URL).replace(/\/+$/, "");
  if (!isHttpUrl(url)) throw new UsageError(`the directory '${url}' is not an http(s) URL`);
  if (options.directoryKey !== undefined) return { url, key: parseKey(options.directoryKey, "--directory-key"), keySource: "--directory-key" };
  if (env.SHALLOT_DIRECTORY_KEY) return { url, key: parseKey(env.SHALLOT_DIRECTORY_KEY, "SHALLOT_DIRECTORY_KEY"), keySource: "SHALLOT_DIRECTORY_KEY" };
  let stored: unknown;
  try {
    stored = JSON.parse(readFileSync(devKeyFile, "utf8"));
  } catch {
    throw new CliError(
      "directory_unconfigured",
      `No directory key to check the consensus with: pass --directory-key KEY (the directory's Ed25519 public key, base64url) or set SHALLOT_DIRECTORY_KEY (the dev mesh keeps its key in ${devKeyFile}, made by 'npm run dev').`,
      503,
    );
  }
  const publicKey = (stored as { publicKey?: unknown } | null)?.publicKey;
  if (typeof publicKey !== "string") throw new CliError("directory_unconfigured", `${devKeyFile} has no publicKey; pass --directory-key KEY.`, 503);
  return { url, key: parseKey(publicKey, devKeyFile), keySource: devKeyFile };
}

function parseKey(text: string, source: string): Bytes {
  const trimmed = text.trim();
  if (/^[A-Za-z0-9_-]{43}$/.test(trimmed)) {
    const key = fromBase64Url(trimmed);
    if (key.length === 32) return key;
  }
  throw new UsageError(`the directory key from ${source} is not an Ed25519 public key (32 bytes, base64url: 43 characters)`);
}

/** GET <directory>/consensus, verified against the pinned key before anything reads it. */
export async function fetchConsensus(config: DirectoryConfig, now: () => number = Date.now): Promise<ConsensusDocument> {
  let response: Response;
  try {
    response = await fetch(`${config.url}/consensus`, { signal: AbortSignal.timeout(CONSENSUS_TIMEOUT_MS) });
  } catch (error) {
    throw new CliError("directory_unreachable", `The directory at ${config.url} could not be reached (${networkReason(error)}).`, 503);
  }
  if (!response.ok) throw new CliError("directory_unreachable", `The directory at ${config.url} answered ${response.status} to GET /consensus.`, 503);
  let signed: unknown;
  try {
    signed = await response.json();
  } catch {
    throw new CliError("malformed_message", `The directory at ${config.url} did not answer GET /consensus with JSON.`, 503);
  }
  try {
    return await verifyConsensus(signed, config.key, now());
  } catch (error) {
    if (isProtocolError(error) && error.code === "bad_signature") {
      throw new CliError("bad_signature", `The consensus from ${config.url} is not signed by the pinned directory key (from ${config.keySource}); it was not used.`, 503);
    }
    if (isProtocolError(error)) throw new CliError(error.code, `The consensus from ${config.url} was refused: ${error.message}`, 503);
    throw error;
  }
}
