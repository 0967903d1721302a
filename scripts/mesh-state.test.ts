// What survives a restart of `npm run dev`: the dev keys always, the accounts only when asked.

import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
// @ts-expect-error -- plain ESM script shared with `npm run dev`
import { clearState } from "./mesh.mjs";

/** Every worker's state directory: the three authorities', the relay deployments', the auth server's. */
const WORKERS = ["relay", "second", "authority-1", "authority-2", "authority-3", "auth"];

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "shallot-state-"));
  for (const worker of WORKERS) {
    mkdirSync(join(dir, "state", worker, "v3"), { recursive: true });
    writeFileSync(join(dir, "state", worker, "v3", "db.sqlite"), "rows");
  }
  for (const n of [1, 2, 3]) writeFileSync(join(dir, `authority-${n}-key.json`), "{}");
  writeFileSync(join(dir, "auth-hpke-key.json"), "{}");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const left = () => WORKERS.filter((worker) => existsSync(join(dir, "state", worker)));

it("starts every worker clean, the auth server's accounts included, and keeps the dev keys", () => {
  clearState(dir);
  expect(left()).toEqual([]);
  for (const key of ["authority-1-key.json", "authority-2-key.json", "authority-3-key.json", "auth-hpke-key.json"]) expect(existsSync(join(dir, key))).toBe(true);
});

it("keeps the accounts with KEEP_ACCOUNTS=1 (keepAccounts), and nothing else", () => {
  clearState(dir, { keepAccounts: true });
  expect(left()).toEqual(["auth"]);
});
