// The dev mesh's process supervision: each `wrangler dev` runs in its own process group (wrangler,
// its Node child, esbuild and workerd), so one signal to the group reaches workerd even after
// wrangler itself is gone. When a child exits we say why, in words a developer can act on.

import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { stripVTControlCharacters } from "node:util";

/** Lines of each child's output kept for the cause of its exit (also when QUIET=1 hides them). */
const TAIL_LINES = 40;
/** How long a group has to stop after SIGTERM before it gets SIGKILL. */
export const STOP_GRACE_MS = 2_500;
/** Output may still be in the pipe when `exit` fires; wait this long for it before naming a cause. */
const OUTPUT_SETTLE_MS = 150;
/** After an error exit with no cause read yet, how long to wait for its line or for the group to end. */
export const CAUSE_WAIT_MS = 1_500;

/**
 * The port an "address already in use" line names (`127.0.0.1:8787`, `[::1]:8787`), null when it names
 * none (wrangler says `socket "direct:1:default"` for an inspector port), undefined for any other line.
 */
export function portInUse(line) {
  const text = stripVTControlCharacters(line);
  if (!/address already in use|EADDRINUSE/i.test(text)) return undefined;
  const ports = [...text.matchAll(/(?:\b\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]|\blocalhost):(\d{1,5})\b/g)].map((match) => Number(match[1]));
  return ports.length > 0 ? ports.at(-1) : null;
}

/** The first of `ports` that something else holds on loopback, or null. */
export async function busyPort(ports) {
  for (const port of ports) {
    const busy = await new Promise((resolve) => {
      const server = createServer();
      server.once("error", (error) => resolve(error.code === "EADDRINUSE"));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(false)));
    });
    if (busy) return port;
  }
  return null;
}

/** The sentence naming why a worker's process ended. */
export function exitCause(name, { code, signal, port }) {
  if (port !== undefined) return port === null ? `an address the ${name} worker needs is already in use` : `port ${port} is in use (the ${name} worker could not listen on it)`;
  if (signal) return `the ${name} worker's wrangler was killed by ${signal}`;
  return `the ${name} worker's wrangler exited with code ${code}`;
}

const hasExited = (child) => child.exitCode !== null || child.signalCode !== null;

function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the whole group is gone already.
  }
}

/**
 * Spawns `command args` as the leader of a new process group. `onLine(line)` receives each line of
 * its output; `ports` are the ports it listens on, checked when it reports an address in use without
 * naming it. The handle's `exited` resolves (never rejects) with { name, code, signal, port, cause, tail }
 * once the process has exited and its output has settled (`port`: the port found in use, if any).
 */
export function spawnSupervised(name, command, args, { cwd, env, ports = [], onLine = () => {} }) {
  const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const tail = [];
  let port;
  let causeSeen = () => {};
  const take = (line) => {
    if (!line.trim()) return;
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    port ??= portInUse(line);
    if (port !== undefined) causeSeen();
    onLine(line);
  };
  const streamsClosed = [child.stdout, child.stderr].map((stream) => {
    let partial = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop();
      lines.forEach(take);
    });
    return new Promise((resolve) => stream.once("close", () => resolve(take(partial))));
  });
  const groupAlive = () => {
    try {
      process.kill(-child.pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  /** Resolves once the group is gone, or after `ms`: whichever comes first. */
  const groupGone = async (ms) => {
    const deadline = Date.now() + ms;
    while (groupAlive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  };
  const exited = new Promise((resolve) => {
    const settle = async (code, signal) => {
      // An error exit with no cause read yet (a CI run reported a taken inspector port as a bare
      // "exited with code 1"). Its line may still be coming (esbuild and workerd hold the pipes open,
      // so their closing cannot say all is read), or never come (wrangler's exit racing its own
      // report). Wait for the line or for the whole group to end; once it has, a port of this
      // worker that something else holds is the cause.
      const failed = signal === null && typeof code === "number" && code !== 0;
      if (failed && port === undefined) {
        await Promise.race([new Promise((r) => (causeSeen = r)), groupGone(CAUSE_WAIT_MS)]);
      }
      // workerd may hold the pipes open after wrangler died: do not wait for them longer than this.
      await Promise.race([Promise.all(streamsClosed), new Promise((r) => setTimeout(r, OUTPUT_SETTLE_MS))]);
      if (failed && port === undefined && !groupAlive()) port = (await busyPort(ports)) ?? undefined;
      if (port === null) port = (await busyPort(ports)) ?? null;
      resolve({ name, code, signal, port, cause: exitCause(name, { code, signal, port }), tail: [...tail] });
    };
    child.once("exit", settle);
    // spawn itself failed (no such command): report it the same way.
    child.once("error", (error) => {
      take(error.message);
      settle(null, null);
    });
  });

  /**
   * SIGTERM to the whole group, as Ctrl-C in a terminal reaches all of it (wrangler's esbuild service
   * dies noisily when only wrangler stops), then SIGKILL to whatever is left after the grace period.
   * Resolves once it is all gone.
   */
  const stop = async (graceMs = STOP_GRACE_MS) => {
    if (child.pid === undefined) return;
    signalGroup(child, "SIGTERM");
    const deadline = Date.now() + graceMs;
    while ((!hasExited(child) || groupAlive()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    signalGroup(child, "SIGKILL");
    if (!hasExited(child)) await new Promise((r) => child.once("exit", r));
  };
  /** For `process.on("exit")`: no waiting possible, so the group is killed outright. */
  const kill = () => child.pid !== undefined && signalGroup(child, "SIGKILL");
  return { name, child, exited, stop, kill, tail, hasExited: () => hasExited(child) };
}
