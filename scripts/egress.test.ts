// The local runtimes' outbound path (scripts/egress.mjs) against destinations that answer what no
// Response can hold, or break off their answers: it must fail them, never crash or pass them as whole.

import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error -- plain ESM script shared with the dev mesh and the relay's tests
import { productionEgress } from "./egress.mjs";

/** Raw HTTP answers by path, so the destination can say what a well-behaved server would not. */
const ANSWERS: Record<string, (socket: Socket) => void> = {
  "/status-600": (s) => s.end("HTTP/1.1 600 Odd\r\ncontent-length: 2\r\n\r\nok"),
  "/status-205": (s) => s.end("HTTP/1.1 205 Reset Content\r\ncontent-length: 0\r\n\r\n"),
  "/bad-chunk": (s) => s.end("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
  "/short-body": (s) => {
    s.write("HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789");
    setTimeout(() => s.resetAndDestroy(), 50);
  },
};

let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer((socket) => {
    socket.on("error", () => {});
    socket.once("data", (data) => ANSWERS[/^[A-Z]+ (\S+)/.exec(data.toString())?.[1] ?? ""]?.(socket) ?? socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const egress = productionEgress({ policy: false }) as (request: Request) => Promise<Response>;

describe("the local egress path", () => {
  it("reports a status no Response can have as a failed fetch, instead of throwing in the runtime's outbound service", async () => {
    const answer = await egress(new Request(`${base}/status-600`));
    expect(answer.status).toBe(502);
    expect(answer.headers.get("shallot-egress-failed")).toBe("1");
  });

  it("passes a 205 with no body", async () => {
    const answer = await egress(new Request(`${base}/status-205`));
    expect(answer.status).toBe(205);
    expect(answer.body).toBeNull();
  });

  it("fails an answer whose body breaks off or is malformed, promptly, instead of passing it as whole", async () => {
    for (const path of ["/bad-chunk", "/short-body"]) {
      const answer = await egress(new Request(`${base}${path}`));
      expect(answer.status, path).toBe(502);
      expect(answer.headers.get("shallot-egress-failed"), path).toBe("1");
    }
  });
});
