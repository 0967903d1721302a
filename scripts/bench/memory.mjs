// The relay worker's isolate memory, read through its inspector while work runs.

/** How long an inspector call may go unanswered. */
const CALL_TIMEOUT_MS = 10_000;

/**
 * Runs `work` three times while sampling the isolate's memory through its inspector
 * (Runtime.getHeapUsage: JS heap used + ArrayBuffer backing stores, garbage included).
 * Resolves with the highest peak and the lowest figure at rest (after a collection), in MiB.
 */
export async function peakMemory(port, work) {
  const [target] = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  // wrangler's inspector proxy wants an Origin it trusts.
  const socket = new WebSocket(target.webSocketDebuggerUrl, { headers: { origin: "http://localhost" } });
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", reject, { once: true });
  });
  let id = 0;
  const pending = new Map();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    pending.get(message.id)?.(message.result);
    pending.delete(message.id);
  });
  // A call whose answer never comes fails after CALL_TIMEOUT_MS: a bench run once sat idle for
  // minutes here, every download over, waiting (as it seems) on an answer wrangler's inspector
  // proxy never passed on.
  const call = (method) => new Promise((resolve, reject) => {
    const sent = ++id;
    const timer = setTimeout(() => {
      pending.delete(sent);
      reject(new Error(`the inspector did not answer ${method} within ${CALL_TIMEOUT_MS} ms`));
    }, CALL_TIMEOUT_MS);
    pending.set(sent, (result) => {
      clearTimeout(timer);
      resolve(result);
    });
    socket.send(JSON.stringify({ id: sent, method }));
  });
  /** A heap sample, or none when the inspector did not answer in time (a sample missed, not the run). */
  const sample = () => call("Runtime.getHeapUsage").then(mib, () => 0);
  const mib = (usage) => (usage.usedSize + (usage.backingStorageSize ?? 0)) / 1048576;
  let peak = 0;
  let rest = Infinity;
  for (let round = 0; round < 3; round++) {
    await call("HeapProfiler.collectGarbage");
    rest = Math.min(rest, mib(await call("Runtime.getHeapUsage")));
    let running = true;
    const sampler = (async () => {
      while (running) peak = Math.max(peak, await sample());
    })();
    await work();
    running = false;
    await sampler;
  }
  socket.close();
  return { peakMiB: +peak.toFixed(1), restMiB: +rest.toFixed(1) };
}

