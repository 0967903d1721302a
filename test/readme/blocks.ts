// The README's shell blocks, as the README test runs them. A fenced block whose info string is sh,
// bash, shell or zsh is run as written, in order, unless an HTML comment right above it (invisible
// on GitHub) says otherwise:
//
//   <!-- not-run: <why it cannot run on a test machine> -->       not run; a test named in the reason must exist
//   <!-- keeps-running: ready when it prints "<text>" -->         started, left running for the blocks
//                                                                 after it (npm run dev, a proxy), and
//                                                                 stopped at the end
//
// Inside a block, a comment line `# → <line>` is output the block must print, in order; `…` stands
// for anything. A block fails when it exits non-zero (it runs under `set -euo pipefail`), misses an
// expected line, or prints a JSON error (`"error":`) that no expected line names.

export type Block =
  | { kind: "run"; line: number; code: string; expected: string[] }
  | { kind: "keeps-running"; line: number; code: string; ready: string }
  | { kind: "not-run"; line: number; code: string; reason: string };

const SHELL_INFO = new Set(["sh", "bash", "shell", "zsh"]);
const ANNOTATION = /^<!--\s*(not[- ]?run|keeps[- ]?running)\b([\s\S]*?)-->$/i;

export class ReadmeError extends Error {
  override name = "ReadmeError";
}

/** The shell blocks of `markdown`, each with the 1-based line of its opening fence. */
export function shellBlocks(markdown: string): Block[] {
  const lines = markdown.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    let end = i + 1;
    while (end < lines.length && !new RegExp(`^ {0,3}${fence[0] === "`" ? "`" : "~"}{${fence.length},}\\s*$`).test(lines[end]!)) end++;
    const code = lines.slice(i + 1, end).join("\n");
    const annotation = annotationAbove(lines, i);
    const line = i + 1;
    if (!SHELL_INFO.has(open[2]!.toLowerCase())) {
      if (annotation) throw new ReadmeError(`line ${line}: "${annotation}" stands above a block that is not a shell block`);
    } else if (!annotation) {
      blocks.push({ kind: "run", line, code, expected: expectedLines(code) });
    } else {
      blocks.push(annotated(annotation, line, code));
    }
    i = end;
  }
  return blocks;
}

/** The comment on the nearest non-blank line above line `at`, when it is one of ours. */
function annotationAbove(lines: string[], at: number): string | null {
  let i = at - 1;
  while (i >= 0 && lines[i]!.trim() === "") i--;
  const text = i >= 0 ? lines[i]!.trim() : "";
  return ANNOTATION.test(text) ? text : null;
}

function annotated(annotation: string, line: number, code: string): Block {
  const notRun = /^<!--\s*not-run:\s*(\S[\s\S]*?)\s*-->$/.exec(annotation);
  if (notRun) return { kind: "not-run", line, code, reason: notRun[1]! };
  const keeps = /^<!--\s*keeps-running:\s*ready when it prints "([^"]+)"\s*-->$/.exec(annotation);
  if (keeps) return { kind: "keeps-running", line, code, ready: keeps[1]! };
  throw new ReadmeError(`line ${line}: "${annotation}" is neither <!-- not-run: <reason> --> nor <!-- keeps-running: ready when it prints "<text>" -->`);
}

/** The `# → …` lines of a block: output it must print. */
export function expectedLines(code: string): string[] {
  return code
    .split("\n")
    .map((line) => /^\s*# →(?: (.*))?$/.exec(line))
    .filter((match) => match !== null)
    .map((match) => match[1] ?? "");
}

/** Whether an output line is what `expected` describes (`…`: anything; spaces at either end ignored). */
export function lineMatches(expected: string, line: string): boolean {
  const pattern = expected.trim().split("…").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*");
  return new RegExp(`^${pattern}$`).test(line.replace(/\r$/, "").trim());
}

/** What is wrong with a block's output: expected lines it lacks (in order), JSON errors nobody expected. */
export function outputProblems(expected: string[], output: string): string[] {
  const lines = output.split("\n");
  const problems: string[] = [];
  let from = 0;
  for (const want of expected) {
    const at = lines.findIndex((line, i) => i >= from && lineMatches(want, line));
    if (at < 0) problems.push(`no line like "${want}"${from > 0 ? ` after line ${from} of the output` : ""}`);
    else from = at + 1;
  }
  for (const line of lines) {
    if (/"error"\s*:/.test(line) && !expected.some((want) => lineMatches(want, line))) problems.push(`an error nobody expected: ${line.trim()}`);
  }
  return problems;
}
