// What the CLI writes: bodies to stdout byte for byte, progress to stderr only when someone is
// watching, and failures as one line.

import { STATUS_CODES } from "node:http";
import type { HttpResponseMessage } from "@shallot/protocol";
import type { Verbosity } from "./args.ts";

/** Progress lines ("the circuit being built, hop by hop"); a no-op when nobody should see them. */
export interface Progress {
  readonly enabled: boolean;
  line(text: string): void;
}

export function progressOn(stream: NodeJS.WriteStream, verbosity: Verbosity): Progress {
  const enabled = verbosity === "verbose" || (verbosity === "auto" && stream.isTTY === true);
  return { enabled, line: (text) => void (enabled && stream.write(`* ${text}\n`)) };
}

export const silentProgress: Progress = { enabled: false, line: () => {} };

/** Writes and resolves once the bytes are handed to the OS (so exiting afterwards loses nothing). */
export function write(stream: NodeJS.WritableStream, data: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(data, (error) => (error ? reject(error) : resolve()));
  });
}

export const reasonPhrase = (status: number, statusText: string): string => statusText || STATUS_CODES[status] || "";

/** The `-i` head: status line and headers as the exit got them, CRLF line ends, then a blank line. */
export function formatResponseHead(response: Pick<HttpResponseMessage, "status" | "statusText" | "headers">): string {
  const lines = [`HTTP/1.1 ${response.status} ${reasonPhrase(response.status, response.statusText)}`.trimEnd()];
  for (const [name, value] of response.headers) lines.push(`${name}: ${value}`);
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/** The one line a failure prints on stderr. */
export const errorLine = (message: string): string => `onion: ${message}\n`;

export const shortId = (id: string): string => id.slice(0, 16);

/** "3 s ago", "250 ms ago", "in 2 s" (a directory clock ahead of ours). */
export function formatAge(ms: number): string {
  const abs = Math.abs(ms);
  const text = abs < 1000 ? `${Math.round(abs)} ms` : abs < 120_000 ? `${(abs / 1000).toFixed(1)} s` : `${Math.round(abs / 60_000)} min`;
  return ms >= 0 ? `${text} ago` : `in ${text}`;
}

export const formatMs = (ms: number): string => `${ms.toFixed(1)} ms`;
