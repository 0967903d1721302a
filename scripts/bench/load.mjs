// A closed-loop load generator: `inFlight` requests outstanding at all times until `total` are done.
// node:http with a keep-alive agent, which costs this process far less CPU per request than fetch:
// on 2 cores the generator shares the machine with the mesh it measures.

import { Agent, request as httpRequest } from "node:http";
import { summarize } from "./stats.mjs";

/** GETs `urlFor(i)` for i in 0..total-1; resolves with { rate, latency, errors, statuses }. */
export async function closedLoop({ total, inFlight, urlFor, headers = {} }) {
  const agent = new Agent({ keepAlive: true, maxSockets: inFlight });
  const latencies = [];
  const statuses = {};
  let errors = 0;
  let next = 0;
  const one = (url) =>
    new Promise((resolve) => {
      const started = performance.now();
      const req = httpRequest(url, { agent, headers }, (response) => {
        response.resume();
        response.once("end", () => {
          latencies.push(performance.now() - started);
          statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1;
          resolve();
        });
        response.once("error", () => (errors++, resolve()));
      });
      req.once("error", () => (errors++, resolve()));
      req.end();
    });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < total) await one(urlFor(next++));
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return { rate: +(total / seconds).toFixed(0), seconds: +seconds.toFixed(2), latency: summarize(latencies), errors, statuses };
}
