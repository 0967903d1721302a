// The CLI's entry guards, kept across runs in a file of the state directory: one file per set of
// pinned authorities (a guard of one network means nothing in another), readable by the user only.

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type GuardStore, parseGuardState } from "@shallot/protocol";
import type { NetworkConfig } from "./directory.ts";

export const guardFile = (config: Pick<NetworkConfig, "authorities" | "stateDir">): string => {
  const network = createHash("sha256").update(config.authorities.map((a) => a.key).sort().join(",")).digest("hex").slice(0, 16);
  return join(config.stateDir, `guards-${network}.json`);
};

export function guardFileStore(config: Pick<NetworkConfig, "authorities" | "stateDir">): GuardStore {
  const file = guardFile(config);
  return {
    load: async () => {
      try {
        return parseGuardState(JSON.parse(readFileSync(file, "utf8")));
      } catch {
        return null; // none yet, or unreadable: start a new set
      }
    },
    save: async (state) => {
      mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
      // Written whole, then renamed: a run that stops half-way never leaves half a file.
      const partial = `${file}.${process.pid}.tmp`;
      writeFileSync(partial, `${JSON.stringify(state)}\n`, { mode: 0o600 });
      renameSync(partial, file);
    },
  };
}
