// The supervisor's account of why a worker's process ended, with plain `sh` standing in for
// wrangler: the line naming a taken port may come after the exit, or not at all.

import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../test/e2e/origin.ts";
// @ts-expect-error -- plain ESM script shared with `npm run dev`
import { spawnSupervised } from "./supervise.mjs";

let blocker: Server | undefined;
afterEach(() => {
  blocker?.close();
  blocker = undefined;
});

/** A loopback port something else holds, as a stray server would. */
async function takenPort(): Promise<number> {
  blocker = createServer();
  await new Promise<void>((r) => blocker!.listen(0, "127.0.0.1", r));
  return (blocker.address() as { port: number }).port;
}

const run = (script: string, ports: number[]) => spawnSupervised("auth", "sh", ["-c", script], { ports }).exited;

describe("the cause of a worker's exit", () => {
  it("waits for the line naming a taken port when it comes after the exit", async () => {
    // The leader exits at once; a process of its group says why 400 ms later.
    const exit = await run(`(sleep 0.4; echo "✘ [ERROR] Address already in use (127.0.0.1:28999).") & exit 1`, []);
    expect(exit.port).toBe(28999);
    expect(exit.cause).toBe("port 28999 is in use (the auth worker could not listen on it)");
  });

  it("names a port of its own that something else holds when the exit said nothing", async () => {
    const port = await takenPort();
    const exit = await run("exit 1", [await freePort(), port]);
    expect(exit.cause).toBe(`port ${port} is in use (the auth worker could not listen on it)`);
  });

  it("blames no port while its own group still runs, nor when its ports are free", async () => {
    const port = await takenPort();
    // A process of the group outlives the wait: it might be the one holding the port.
    const alive = await run("sleep 3 & exit 1", [port]);
    expect(alive.cause).toBe("the auth worker's wrangler exited with code 1");
    const free = await run("exit 2", [await freePort()]);
    expect(free.cause).toBe("the auth worker's wrangler exited with code 2");
  });

  it("names the signal, not a port, when the process was killed", async () => {
    const port = await takenPort();
    const exit = await run("kill -KILL $$", [port]);
    expect(exit.cause).toBe("the auth worker's wrangler was killed by SIGKILL");
  });
});
