// What survives a restart of `npm run dev`: the dev keys always, the accounts only when asked.

import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
// @ts-expect-error -- plain ESM script shared with `npm run dev`
import { clearState } from "./mesh.mjs";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "shallot-state-"));
  for (const worker of ["relay", "second", "directory", "auth"]) {
    mkdirSync(join(dir, "state", worker, "v3"), { recursive: true });
    writeFileSync(join(dir, "state", worker, "v3", "db.sqlite"), "rows");
  }
  writeFileSync(join(dir, "directory-key.json"), "{}");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const left = () => ["relay", "second", "directory", "auth"].filter((worker) => existsSync(join(dir, "state", worker)));

it("starts every worker clean, the auth server's accounts included, and keeps the dev keys", () => {
  clearState(dir);
  expect(left()).toEqual([]);
  expect(existsSync(join(dir, "directory-key.json"))).toBe(true);
});

it("keeps the accounts with KEEP_ACCOUNTS=1 (keepAccounts), and nothing else", () => {
  clearState(dir, { keepAccounts: true });
  expect(left()).toEqual(["auth"]);
});
