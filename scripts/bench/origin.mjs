// The bench's origin: loopback HTTP with TCP_NODELAY (as production servers set it; without it a
// small answer can wait out the peer's delayed ACK), answering 1 KiB that no one may cache, and
// counting each request by the id in its path, so the bench can check that every request arrived
// exactly once (none lost, none sent twice, none answered from a cache).

import { createServer } from "node:http";

const BODY = Buffer.from("x".repeat(1024));

export async function startCountingOrigin() {
  const arrivals = new Map();
  const server = createServer((request, response) => {
    const id = /^\/r\/([\w-]+)/.exec(request.url ?? "")?.[1];
    if (id) arrivals.set(id, (arrivals.get(id) ?? 0) + 1);
    request.resume();
    request.on("end", () => response.writeHead(200, { "content-type": "text/plain", "cache-control": "no-store", "content-length": BODY.length }).end(BODY));
  });
  server.on("connection", (socket) => socket.setNoDelay(true));
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  let next = 0;
  return {
    bodyBytes: BODY.length,
    /** A URL of the origin no request has used yet, and its id. */
    fresh(prefix) {
      const id = `${prefix}-${next++}`;
      return { id, url: `${base}/r/${id}` };
    },
    /** Of `ids`, how many arrived never, once, or more than once. */
    check(ids) {
      const counts = { sent: ids.length, once: 0, lost: 0, duplicated: 0 };
      for (const id of ids) {
        const n = arrivals.get(id) ?? 0;
        if (n === 0) counts.lost++;
        else if (n === 1) counts.once++;
        else counts.duplicated++;
      }
      return counts;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
