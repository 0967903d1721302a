// The dev mesh's public ports (each worker's, opened by scripts/dev-worker.mjs). Two jobs:
// - Under `wrangler dev` an HTTP CONNECT never reaches the Worker: wrangler's proxy takes it for a
//   TCP connection to a connect() handler, finds none, and answers a plain-text 500 (logging an
//   uncaught "Handler does not export a connect() function"); a connect() handler could not refuse it
//   anyway, as the runtime has answered 200 by then. So a connection that opens with CONNECT is
//   answered here, as the workers answer a method they do not serve. (Deployed, CONNECT stops at
//   Cloudflare's edge.)
// - A connection that opens with a method the runtime's HTTP parser does not know (FOO, BREW) would
//   get its plain-text "501 Unrecognized request method"; it is answered here in JSON, as the
//   workers answer a method they do not serve. (Deployed, Cloudflare's edge answers those.)
// - Every other connection goes to its upstream untouched, byte for byte (WebSocket upgrades too).
//   Only a connection's first request line is looked at.

import { connect, createServer } from "node:net";

const REFUSAL = JSON.stringify({ error: "method_not_allowed", message: "CONNECT is not served here: Shallot carries HTTP requests through /fetch, not TCP tunnels." });
export const CONNECT_REFUSED = `HTTP/1.1 405 Method Not Allowed\r\ncontent-type: application/json\r\ncache-control: no-store\r\nallow: GET, HEAD, POST, PUT, PATCH, DELETE\r\ncontent-length: ${Buffer.byteLength(REFUSAL)}\r\nconnection: close\r\n\r\n${REFUSAL}`;
const CONNECT = Buffer.from("CONNECT ");

/** The methods workerd's HTTP parser (KJ) accepts; any other token gets its plain-text 501. */
const RUNTIME_METHODS = new Set(
  "GET HEAD POST PUT DELETE PATCH PURGE OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH SEARCH UNLOCK ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY SUBSCRIBE UNSUBSCRIBE".split(" "),
);
/** Bytes in which a request line must show its method and the space after it. */
const METHOD_WINDOW = 64;

const jsonAnswer = (status, reason, error, message, extra = "") => {
  const body = JSON.stringify({ error, message });
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncache-control: no-store\r\n${extra}content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
};

export const unknownMethodRefusal = (method) =>
  jsonAnswer(405, "Method Not Allowed", "method_not_allowed", `The method ${method} is not served here; use GET, HEAD, POST, PUT, PATCH or DELETE.`, "allow: GET, HEAD, POST, PUT, PATCH, DELETE\r\n");
const BAD_REQUEST_LINE = jsonAnswer(400, "Bad Request", "bad_request", "The request line is not HTTP/1.1: a method token, one space, a target.");

/** A connected socket to host:port, or the error that stopped it connecting. */
export function connectTo({ host, port }) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/**
 * Listens on host:port and passes each connection to its upstream: host:`target` when `target` is a
 * port, else whatever socket `upstream()` resolves with (dev-worker.mjs: the runtime wrangler last
 * reported, wrangler's proxy while it reloads). Resolves once listening; rejects with the listen
 * error (EADDRINUSE: the port is taken). `close()` stops it and ends its connections.
 */
export function openFrontDoor({ port, target, upstream, host = "127.0.0.1" }) {
  const reach = upstream ?? (() => connectTo({ host, port: target }));
  const sockets = new Set();
  const track = (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };
  const server = createServer({ noDelay: true }, (client) => {
    track(client);
    client.on("error", () => client.destroy());
    let opening = Buffer.alloc(0);
    const firstBytes = (chunk) => {
      opening = Buffer.concat([opening, chunk]);
      // Enough to read the request line's method (or to know it is no request line).
      const space = opening.indexOf(0x20);
      if (space < 0 && opening.length < METHOD_WINDOW) return;
      client.off("data", firstBytes);
      client.pause();
      if (opening.subarray(0, CONNECT.length).equals(CONNECT)) {
        client.end(CONNECT_REFUSED);
        return;
      }
      const method = space > 0 && space < METHOD_WINDOW ? opening.subarray(0, space).toString("latin1") : null;
      // What the runtime would answer in plain text (400, 501), answered here in JSON.
      if (method === null || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(method)) {
        client.end(BAD_REQUEST_LINE);
        return;
      }
      if (!RUNTIME_METHODS.has(method)) {
        client.end(unknownMethodRefusal(method));
        return;
      }
      reach().then(
        (socket) => {
          track(socket);
          if (client.destroyed) return socket.destroy();
          // Ends pass through the pipes (an answer is never cut short); a failure on either side ends both.
          socket.on("error", () => client.destroy());
          client.once("close", () => socket.destroy());
          socket.write(opening);
          client.pipe(socket);
          socket.pipe(client);
          client.resume();
        },
        () => client.destroy(),
      );
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
