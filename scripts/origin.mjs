// `npm run origin`: the origin the README's examples fetch through the network. An echo server on
// http://127.0.0.1:9000 that answers every method with what reached it — method, path, headers and
// the body's length and SHA-256 — so a reader sees what the exit delivered, a POST's body included.
// Environment: PORT (9000), HOST (127.0.0.1), QUIET=1 to print nothing per request.

import { createHash } from "node:crypto";
import { createServer } from "node:http";

/**
 * The echo of one request: what the origin received, as JSON. The body is digested as it streams
 * in, so an 8 MiB upload costs no memory here.
 */
function echo(request) {
  return new Promise((resolve, reject) => {
    const digest = createHash("sha256");
    let bytes = 0;
    request.on("data", (chunk) => {
      bytes += chunk.length;
      digest.update(chunk);
    });
    request.once("error", reject);
    request.once("end", () =>
      resolve({
        method: request.method,
        path: request.url,
        headers: request.headers,
        body: { bytes, sha256: digest.digest("hex") },
      }),
    );
  });
}

/**
 * The echo server (not yet listening). `log(line)` hears one line per request: its method, path and
 * body length. Nagle's algorithm is off on every connection (TCP_NODELAY), so a small answer is
 * never held back waiting for the client's delayed ACK.
 */
export function createOrigin({ log = () => {} } = {}) {
  const server = createServer({ noDelay: true }, async (request, response) => {
    try {
      const received = await echo(request);
      const body = `${JSON.stringify(received, null, 2)}\n`;
      response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
      response.end(request.method === "HEAD" ? undefined : body);
      log(`${received.method} ${received.path} (${received.body.bytes} bytes in)`);
    } catch {
      // The client went away mid-body: nobody is left to answer.
      response.destroy();
    }
  });
  // Also for connections Node's option did not reach (an upgrade, a keep-alive socket handed over).
  server.on("connection", (socket) => socket.setNoDelay(true));
  return server;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.env.PORT ?? 9000);
  const host = process.env.HOST ?? "127.0.0.1";
  const quiet = process.env.QUIET === "1";
  const server = createOrigin({ log: quiet ? undefined : (line) => console.log(`origin: ${line}`) });
  server.once("error", (error) => {
    console.error(error.code === "EADDRINUSE" ? `origin: port ${port} is in use (set PORT to use another).` : `origin: cannot listen on ${host}:${port} (${error.code ?? error.message}).`);
    process.exit(1);
  });
  server.listen(port, host, () => console.log(`origin: echoing requests on http://${host}:${port}/ (method, path, headers, body digest); Ctrl-C stops it`));
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
