// A long-running command (onion proxy) started by npm — `npx onion proxy`, an npm script — ends
// with the npm that started it. npm runs a bin through `sh -c`: when npx is killed, even with
// SIGTERM, the shell dies without passing the signal on (or, after a SIGKILL, stays), and this
// process would go on holding its port with nobody left to stop it. Linux only (it reads /proc);
// elsewhere it watches this process's own parent.

import { readFileSync } from "node:fs";

/** The parent pid of `pid`, or null when it is gone (or /proc cannot say). */
function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name, in parentheses, may itself hold spaces and parentheses.
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

/** npm names its process "npm exec …" / "npm run …"; started by path, its script is npm-cli.js or npx-cli.js. */
export function isNpm(argv: readonly string[]): boolean {
  return /^(npm|npx)( |$)/.test(argv[0] ?? "") || argv.slice(0, 2).some((arg) => /(^|\/)(npm|npx)(-cli\.js)?$/.test(arg));
}

/**
 * The processes from this one's parent up to the npm that started it, each with the parent it had:
 * [{ pid: sh, parent: npm }, { pid: npm, parent: … }]. Empty when npm did not start this process.
 */
export function launcherChain(self = process.pid, maxDepth = 4): { pid: number; parent: number }[] {
  const chain: { pid: number; parent: number }[] = [];
  let pid = parentOf(self);
  while (pid !== null && pid > 1 && chain.length < maxDepth) {
    const parent = parentOf(pid);
    if (parent === null) return [];
    chain.push({ pid, parent });
    if (isNpm(commandLine(pid))) return chain;
    pid = parent;
  }
  return [];
}

/**
 * Calls `gone` once, when the npm that started this process ends or a process between the two loses
 * its parent. Not started by npm: never (a proxy under nohup outlives its shell, as it should).
 * Returns a function that stops watching.
 */
export function whenLauncherEnds(gone: () => void, { intervalMs = 500, env = process.env }: { intervalMs?: number; env?: NodeJS.ProcessEnv } = {}): () => void {
  if (env.npm_lifecycle_event === undefined) return () => {};
  const parent = process.ppid;
  const chain = launcherChain();
  const npm = chain.at(-1);
  const between = chain.slice(0, -1);
  // Without /proc the chain is empty: then only a parent that goes away (npm's SIGTERM to a shell that dies).
  const ended = () => process.ppid !== parent || between.some((link) => parentOf(link.pid) !== link.parent) || (npm !== undefined && parentOf(npm.pid) === null);
  const timer = setInterval(() => {
    if (!ended()) return;
    clearInterval(timer);
    gone();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
