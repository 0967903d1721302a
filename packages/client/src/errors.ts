// Every failure the CLI reports, reduced to one code, one sentence and the HTTP status the proxy
// answers with. The CLI prints the sentence on one line; the proxy sends `{ error, message }`.

import { AuthClientError, LinkError, isProtocolError } from "@shallot/protocol";

/** A failure the CLI names itself (bad arguments, the directory, a relay link, the exit). */
export class CliError extends Error {
  override readonly name: string = "CliError";
  readonly code: string;
  /** The proxy's HTTP status for it. */
  readonly status: number;
  constructor(code: string, message: string, status = 502) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** Bad command-line input: exit status 2, with a pointer to --help. */
export class UsageError extends CliError {
  override readonly name = "UsageError";
  constructor(message: string) {
    super("usage", message, 400);
  }
}

export interface Failure {
  code: string;
  message: string;
  status: number;
}

/** The code, sentence and status of any error; never a stack trace. A LinkError is the protocol's: a cell that did not get its answer. */
export function describeFailure(error: unknown): Failure {
  if (error instanceof LinkError) return { code: "circuit_failed", message: oneLine(`The circuit failed: ${error.message}`), status: 502 };
  if (error instanceof CliError) return { code: error.code, message: oneLine(error.message), status: error.status };
  if (isProtocolError(error)) {
    if (error.code === "not_enough_relays" || error.code === "stale_consensus") return { code: error.code, message: oneLine(error.message), status: 503 };
    return { code: "circuit_failed", message: oneLine(`The circuit failed (${error.code}): ${error.message}`), status: 502 };
  }
  if (error instanceof AuthClientError) return { code: error.code, message: oneLine(error.message), status: 502 };
  const message = error instanceof Error && error.message ? error.message : String(error);
  return { code: "internal_error", message: oneLine(`Unexpected failure: ${message}`), status: 502 };
}

export const oneLine = (text: string): string => text.replace(/\s*[\r\n]+\s*/g, " ").trim();

/** Why a Node fetch failed, in a few words ("ECONNREFUSED", "timed out"), for error sentences. */
export function networkReason(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === "TimeoutError" || error.name === "AbortError") return "timed out";
    const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
    if (typeof cause?.code === "string") return cause.code;
    if (typeof cause?.message === "string" && cause.message) return cause.message;
    return error.message;
  }
  return String(error);
}
