// How the README test reads the README: which blocks run, which wait, which are skipped and why.

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ReadmeError, lineMatches, outputProblems, shellBlocks } from "./blocks.ts";

const md = (...lines: string[]) => lines.join("\n");

describe("shellBlocks", () => {
  it("runs every sh, bash and shell block, and only those", () => {
    const blocks = shellBlocks(md("# t", "```sh", "echo 1", "```", "```", "not shell", "```", "```bash", "echo 2", "```", "~~~shell", "echo 3", "~~~", "```console", "$ echo 4", "```", "```text", "x", "```"));
    expect(blocks.map((b) => [b.kind, b.line, b.code])).toEqual([
      ["run", 2, "echo 1"],
      ["run", 8, "echo 2"],
      ["run", 11, "echo 3"],
    ]);
  });

  it("skips a block marked not-run, with its reason, and a blank line may stand between", () => {
    expect(shellBlocks(md("<!-- not-run: needs a Cloudflare account -->", "", "```sh", "npx wrangler login", "```"))).toEqual([
      { kind: "not-run", line: 3, code: "npx wrangler login", reason: "needs a Cloudflare account" },
    ]);
  });

  it("refuses a skip without a reason, a misspelt marker, and a marker above a block that is not shell", () => {
    expect(() => shellBlocks(md("<!-- not-run -->", "```sh", "x", "```"))).toThrow(ReadmeError);
    expect(() => shellBlocks(md("<!-- not-run:   -->", "```sh", "x", "```"))).toThrow(ReadmeError);
    expect(() => shellBlocks(md("<!-- not run: spelt apart -->", "```sh", "x", "```"))).toThrow(/line 2/);
    expect(() => shellBlocks(md("<!-- keeps-running -->", "```sh", "npm run dev", "```"))).toThrow(ReadmeError);
    expect(() => shellBlocks(md("<!-- not-run: why -->", "```", "diagram", "```"))).toThrow(/not a shell block/);
  });

  it("starts a keeps-running block and names what it waits for", () => {
    expect(shellBlocks(md('<!-- keeps-running: ready when it prints "mesh ready" -->', "```sh", "npm run dev", "```"))).toEqual([
      { kind: "keeps-running", line: 2, code: "npm run dev", ready: "mesh ready" },
    ]);
  });

  it("does not take another comment, or one further up, for a marker", () => {
    expect(shellBlocks(md("<!-- not-run: far -->", "text", "```sh", "a", "```", "<!-- a note -->", "```sh", "b", "```")).map((b) => b.kind)).toEqual(["run", "run"]);
  });

  it("collects the expected output lines", () => {
    const [block] = shellBlocks(md("```sh", "curl -s x", "# → {\"ok\":true}", "#   not expected", "echo", "# →", "```"));
    expect(block).toMatchObject({ kind: "run", expected: ['{"ok":true}', ""] });
  });

  it("reads this repository's README: every skip has a reason, npm run dev starts first", () => {
    const blocks = shellBlocks(readFileSync(resolve(import.meta.dirname, "../../README.md"), "utf8"));
    expect(blocks[0]).toMatchObject({ kind: "keeps-running", ready: "mesh ready" });
    expect(blocks[0]!.code).toMatch(/^npm run dev\b/m);
    for (const block of blocks) if (block.kind === "not-run") expect(block.reason.length).toBeGreaterThan(10);
  });
});

describe("outputProblems", () => {
  it("matches expected lines in order, … for anything, ignoring the ends' spaces and a CR", () => {
    expect(lineMatches("onion-circuit: …,…,…", "onion-circuit: a,b,c\r")).toBe(true);
    expect(lineMatches("onion-circuit: …,…,…", "onion-circuit: a,b")).toBe(false);
    expect(lineMatches('"path": "/hello",', '    "path": "/hello",')).toBe(true);
    expect(lineMatches("a.c", "abc")).toBe(false);
    expect(outputProblems(["one", "two"], "one\ntwo\n")).toEqual([]);
    expect(outputProblems(["two", "one"], "one\ntwo\n")).toEqual(['no line like "one" after line 2 of the output']);
  });

  it("reports a JSON error no expected line names, and lets an expected one pass", () => {
    const error = '{"error":"invalid_url","message":"The URL is not absolute."}';
    expect(outputProblems([], error)).toEqual([`an error nobody expected: ${error}`]);
    expect(outputProblems(['{"error":"invalid_url","message":"…"}'], error)).toEqual([]);
    expect(outputProblems([], '{\n  "error": "busy"\n}')).toHaveLength(1);
  });
});
