// Talks to the directory: posts this relay's descriptor (the ping), retires it, fetches the consensus.

import { type ConsensusDocument, type Retirement, type SignedDescriptor, fromBase64Url, isProtocolError, verifyConsensus } from "@shallot/protocol";
import { withDeadline } from "./deadline.ts";
import type { Env } from "./env.ts";

function directoryFetch(env: Env, path: string, init?: RequestInit): Promise<Response> {
  // Relative to the configured base, which may carry a path of its own.
  if (env.DIRECTORY_URL) return fetch(`${env.DIRECTORY_URL.replace(/\/+$/, "")}${path}`, init);
  if (env.DIRECTORY) return env.DIRECTORY.fetch(new URL(path, "http://directory"), init);
  throw new DirectoryError("directory_unconfigured", "Neither DIRECTORY_URL nor a DIRECTORY binding is configured.");
}

export class DirectoryError extends Error {
  override readonly name = "DirectoryError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const CONSENSUS_TIMEOUT_MS = 10_000;

const json = (body: unknown, signal: AbortSignal): RequestInit => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal });

/** Posts the descriptor; returns the ping interval the directory asks for, when it names one. */
export function publishDescriptor(env: Env, signed: SignedDescriptor, timeoutMs: number): Promise<number | undefined> {
  // A directory that stalls must not stall the relay's heartbeat with it.
  return withDeadline(timeoutMs, async (signal) => {
    const response = await directoryFetch(env, "/descriptors", json(signed, signal));
    if (!response.ok) throw new DirectoryError("directory_refused", `The directory refused the descriptor (${response.status}).`);
    const answer = (await response.json().catch(() => null)) as { pingIntervalMs?: unknown } | null;
    const interval = answer?.pingIntervalMs;
    return typeof interval === "number" && Number.isInteger(interval) && interval > 0 ? interval : undefined;
  });
}

export function retireDescriptor(env: Env, retirement: Retirement, timeoutMs: number): Promise<void> {
  return withDeadline(timeoutMs, async (signal) => {
    const response = await directoryFetch(env, `/descriptors/${retirement.id}`, { ...json(retirement, signal), method: "DELETE" });
    if (!response.ok && response.status !== 404) throw new DirectoryError("directory_refused", `The directory refused the retirement (${response.status}).`);
  });
}

/** Fetches the consensus and verifies it against the pinned directory key before anyone uses it. */
export async function fetchConsensus(env: Env, now: number): Promise<ConsensusDocument> {
  if (!env.DIRECTORY_PUBLIC_KEY) throw new DirectoryError("directory_unconfigured", "DIRECTORY_PUBLIC_KEY (the pinned directory key) is not configured.");
  let response: Response;
  try {
    response = await withDeadline(CONSENSUS_TIMEOUT_MS, (signal) => directoryFetch(env, "/consensus", { signal }));
  } catch (error) {
    if (error instanceof DirectoryError) throw error;
    throw new DirectoryError("directory_unreachable", "The directory could not be reached.");
  }
  if (!response.ok) throw new DirectoryError("directory_unreachable", `The directory answered ${response.status}.`);
  try {
    return await verifyConsensus(await response.json(), fromBase64Url(env.DIRECTORY_PUBLIC_KEY), now);
  } catch (error) {
    // A consensus that fails verification is never used: the network is unusable until a good one comes.
    if (isProtocolError(error)) throw new DirectoryError(error.code, error.message);
    throw new DirectoryError("malformed_message", "The directory's answer is not JSON.");
  }
}
