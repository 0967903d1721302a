// The relay worker's isolate memory, read through its inspector while work runs.

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
  const call = (method) => new Promise((resolve) => {
    pending.set(++id, resolve);
    socket.send(JSON.stringify({ id, method }));
  });
  const mib = (usage) => (usage.usedSize + (usage.backingStorageSize ?? 0)) / 1048576;
  let peak = 0;
  let rest = Infinity;
  for (let round = 0; round < 3; round++) {
    await call("HeapProfiler.collectGarbage");
    rest = Math.min(rest, mib(await call("Runtime.getHeapUsage")));
    let running = true;
    const sampler = (async () => {
      while (running) peak = Math.max(peak, mib(await call("Runtime.getHeapUsage")));
    })();
    await work();
    running = false;
    await sampler;
  }
  socket.close();
  return { peakMiB: +peak.toFixed(1), restMiB: +rest.toFixed(1) };
}

