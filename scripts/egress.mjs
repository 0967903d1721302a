// The production destination policy for local runtimes. workerd as wrangler dev and the Workers
// vitest plugin run it lets a Worker's fetch() reach loopback and private addresses by any name
// (miniflare allows them, for local development), so an exit could be sent to `localtest.me` or an
// /etc/hosts name that resolves to 127.0.0.1. This is an outbound service for miniflare: every
// fetch() of the Worker comes here, and a name is resolved at connection time and refused when any
// address it resolves to is not public — the check is on the very address the socket connects to,
// so a name that answers differently the second time (DNS rebinding) gains nothing. Literal
// addresses pass: the Worker's own policy has already judged them (its relays may live on loopback).

import { lookup as dnsLookup } from "node:dns";
import { createServer, request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { Readable } from "node:stream";
// Node 22 strips the types: the same classification the exit uses for literal hosts.
import { classifyAddress } from "../packages/protocol/src/exit-policy.ts";

/** Set on the answer to a request the policy refused, so the exit can report destination_refused. */
export const EGRESS_REFUSED_HEADER = "shallot-egress-refused";

/** An answer's body is held whole up to this many bytes (twice the exit's default limit). */
const BUFFERED_BYTES = 16 * 1024 * 1024;

/** The chunks already read, then the rest of `rest`. */
function prepend(held, rest) {
  const reader = rest.getReader();
  return new ReadableStream({
    start(controller) {
      for (const chunk of held) controller.enqueue(new Uint8Array(chunk));
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

class Refused extends Error {
  code = "EGRESS_REFUSED";
}

/**
 * An outbound service enforcing the production policy on names. `hosts` adds entries to the
 * resolver (name → address), as /etc/hosts would: tests use it to make names that resolve to
 * loopback without touching the machine's files. With `policy: false` it is the same outbound path
 * refusing nothing: the relay's own tests use it, since miniflare's default outbound reports every
 * refused connection as an uncaught "Network connection lost" besides rejecting the fetch.
 */
export function productionEgress({ hosts = {}, policy = true } = {}) {
  const table = new Map(Object.entries(hosts).map(([name, address]) => [name.toLowerCase(), address]));
  const lookup = (hostname, options, callback) => {
    const answer = (addresses) => {
      if (addresses.length === 0 || addresses.some(({ address }) => classifyAddress(address) !== "public")) {
        return callback(new Refused(`${hostname} resolves to an address that is not public`));
      }
      if (options?.all) return callback(null, addresses);
      return callback(null, addresses[0].address, addresses[0].family);
    };
    const mapped = table.get(String(hostname).toLowerCase());
    // Asynchronously, as a real lookup answers: the socket's error handlers are not attached yet.
    if (mapped) return setImmediate(() => answer([{ address: mapped, family: isIP(mapped) }]));
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => (error ? callback(error) : answer(addresses)));
  };

  return async function egress(request) {
    const url = new URL(request.url);
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const headers = {};
    for (const [name, value] of request.headers) headers[name] = value;
    return new Promise((resolve) => {
      const failed = () => Response.json({ error: "egress_failed", message: "The destination could not be reached." }, { status: 502, headers: { "shallot-egress-failed": "1" } });
      /** The answer under way, once there is one: a failure after that breaks its body. */
      let answering = null;
      const outgoing = send(
        url,
        { method: request.method, headers, lookup: !policy || isIP(url.hostname.replace(/^\[|\]$/g, "")) ? undefined : lookup, servername: isIP(url.hostname) ? undefined : url.hostname },
        (incoming) => {
          answering = incoming;
          // A status no Response can have (1xx, 600 and up): the destination could not be fetched.
          if (incoming.statusCode < 200 || incoming.statusCode > 599) {
            incoming.destroy();
            return resolve(failed());
          }
          const answerHeaders = new Headers();
          for (let i = 0; i + 1 < incoming.rawHeaders.length; i += 2) {
            const name = incoming.rawHeaders[i].toLowerCase();
            if (name === "transfer-encoding" || name === "connection" || name === "keep-alive") continue;
            answerHeaders.append(name, incoming.rawHeaders[i + 1]);
          }
          const init = { status: incoming.statusCode, statusText: incoming.statusMessage, headers: answerHeaders };
          const empty = request.method === "HEAD" || incoming.statusCode === 204 || incoming.statusCode === 205 || incoming.statusCode === 304;
          if (empty) {
            incoming.resume();
            return resolve(new Response(null, init));
          }
          // The body is held until it is whole: miniflare ends a streamed answer cleanly even when
          // its stream fails, so a body cut short (a reset, a bad chunk) would reach the Worker as a
          // whole one. A body past BUFFERED_BYTES (more than any exit takes) goes on as a stream.
          const chunks = [];
          let size = 0;
          const broken = () => resolve(failed());
          incoming.on("aborted", broken);
          incoming.on("error", broken);
          incoming.on("end", () => resolve(new Response(Buffer.concat(chunks), init)));
          incoming.on("data", function buffer(chunk) {
            chunks.push(chunk);
            size += chunk.length;
            if (size <= BUFFERED_BYTES) return;
            incoming.off("data", buffer).off("aborted", broken).off("error", broken).removeAllListeners("end");
            resolve(new Response(prepend(chunks.splice(0), Readable.toWeb(incoming)), init));
          });
        },
      );
      outgoing.on("error", (error) => {
        if (answering) return void answering.destroy(error);
        if (error instanceof Refused || error?.code === "EGRESS_REFUSED") {
          resolve(Response.json({ error: "destination_refused", message: "The production policy refuses destinations that resolve to non-public addresses." }, { status: 403, headers: { [EGRESS_REFUSED_HEADER]: "1" } }));
        } else {
          resolve(failed());
        }
      });
      if (request.body) Readable.fromWeb(request.body).pipe(outgoing);
      else outgoing.end();
    });
  };
}

/**
 * A DNS-over-HTTPS resolver (the JSON form cloudflare-dns.com serves) on loopback, answering from
 * `hosts` and then the system resolver: where the exits of a local mesh under the production policy
 * resolve stream names (DOH_URL), as deployed exits use Cloudflare's. Resolves to { url, close }.
 */
export async function startResolver({ hosts = {} } = {}) {
  const table = new Map(Object.entries(hosts).map(([name, address]) => [name.toLowerCase(), address]));
  const server = createServer((request, response) => {
    const query = new URL(request.url ?? "/", "http://resolver").searchParams;
    const name = (query.get("name") ?? "").toLowerCase().replace(/\.$/, "");
    const family = query.get("type") === "AAAA" ? 6 : 4;
    const reply = (addresses) => {
      const answers = addresses.filter((address) => isIP(address) === family).map((data) => ({ name, type: family === 6 ? 28 : 1, TTL: 60, data }));
      response.writeHead(200, { "content-type": "application/dns-json" });
      response.end(JSON.stringify({ Status: 0, Answer: answers }));
    };
    const mapped = table.get(name);
    if (mapped) return reply([mapped]);
    dnsLookup(name, { all: true }, (error, addresses) => reply(error ? [] : addresses.map(({ address }) => address)));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}/dns-query`, close: () => new Promise((resolve) => server.close(resolve)) };
}
