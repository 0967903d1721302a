// Bytes the user hands the CLI: request bodies from files or stdin, and a password from stdin.

import { readFile } from "node:fs/promises";
import { type Bytes, utf8 } from "@shallot/protocol";
import type { DataSource } from "./args.ts";
import { UsageError } from "./errors.ts";
import { stripNewlines } from "./request.ts";

export async function readStdin(stdin: NodeJS.ReadableStream = process.stdin): Promise<Bytes> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return new Uint8Array(Buffer.concat(chunks));
}

export async function readDataSource(source: DataSource, stdin?: NodeJS.ReadableStream): Promise<Bytes> {
  if (source.kind === "text") return utf8(source.text);
  let bytes: Bytes;
  if (source.path === "-") bytes = await readStdin(stdin);
  else {
    try {
      bytes = new Uint8Array(await readFile(source.path));
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw new UsageError(`cannot read '${source.path}'${code === "ENOENT" ? ": no such file" : code ? ` (${code})` : ""}`);
    }
  }
  return source.stripNewlines ? stripNewlines(bytes) : bytes;
}
