// The dev mesh's public ports. Under `wrangler dev` an HTTP CONNECT never reaches the Worker:
// wrangler's local proxy takes it for a TCP connection to a Worker's connect() handler, finds none,
// and answers a plain-text 500 (logging an uncaught "Handler does not export a connect() function");
// and a connect() handler could not refuse it anyway, as the runtime has answered 200 by then. So each
// worker's port is this front door, which hands every connection to its wrangler untouched, byte for
// byte, except one that opens with CONNECT: that one is answered here, as the workers answer a method
// they do not serve. (Deployed, CONNECT stops at Cloudflare's edge.)

import { connect, createServer } from "node:net";

const REFUSAL = JSON.stringify({ error: "method_not_allowed", message: "CONNECT is not served here: Shallot carries HTTP requests through /fetch, not TCP tunnels." });
export const CONNECT_REFUSED = `HTTP/1.1 405 Method Not Allowed\r\ncontent-type: application/json\r\ncache-control: no-store\r\nallow: GET, HEAD, POST, PUT, PATCH, DELETE\r\ncontent-length: ${Buffer.byteLength(REFUSAL)}\r\nconnection: close\r\n\r\n${REFUSAL}`;
const CONNECT = Buffer.from("CONNECT ");

/** A loopback port nobody listens on right now, for a wrangler behind a front door. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Listens on host:port and passes connections to host:target. Resolves once listening; rejects with
 * the listen error (EADDRINUSE: the port is taken). `close()` stops it and ends its connections.
 */
export function openFrontDoor({ port, target, host = "127.0.0.1" }) {
  const sockets = new Set();
  const server = createServer({ noDelay: true }, (client) => {
    sockets.add(client);
    client.once("close", () => sockets.delete(client));
    client.on("error", () => client.destroy());
    let opening = Buffer.alloc(0);
    const firstBytes = (chunk) => {
      opening = Buffer.concat([opening, chunk]);
      // Enough to tell a CONNECT request line from any other.
      if (opening.length < CONNECT.length && CONNECT.subarray(0, opening.length).equals(opening)) return;
      client.off("data", firstBytes);
      client.pause();
      if (opening.subarray(0, CONNECT.length).equals(CONNECT)) {
        client.end(CONNECT_REFUSED);
        return;
      }
      const upstream = connect({ port: target, host, noDelay: true });
      sockets.add(upstream);
      upstream.once("close", () => sockets.delete(upstream));
      // Ends pass through the pipes (an answer is never cut short); a failure on either side ends both.
      upstream.on("error", () => client.destroy());
      client.once("close", () => upstream.destroy());
      upstream.write(opening);
      client.pipe(upstream);
      upstream.pipe(client);
    };
    client.on("data", firstBytes);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve({
        port: server.address().port,
        close: () =>
          new Promise((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
