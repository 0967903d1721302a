import { describe, expect, it } from "vitest";
import { LinkError } from "@shallot/protocol";
import { httpTransport, linkTransport } from "./transport.ts";

type Call = { url: string; init: RequestInit };

function fakeFetch(answer: () => Response | Promise<Response>) {
  const calls: Call[] = [];
  const fetch = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    return answer();
  }) as unknown as typeof globalThis.fetch;
  return { calls, fetch };
}

const failing = (code: string) => fakeFetch(() => Promise.reject(Object.assign(new TypeError("fetch failed"), { cause: { code } })));

describe("httpTransport", () => {
  it("POSTs the cell to <address>/cell with a timeout and returns the answer's bytes", async () => {
    const { calls, fetch } = fakeFetch(() => new Response(new Uint8Array([9, 8, 7])));
    expect(await httpTransport({ fetch }).send("http://relay:1/relays/abc/", new Uint8Array([1, 2, 3]))).toEqual(new Uint8Array([9, 8, 7]));
    expect(calls[0]!.url).toBe("http://relay:1/relays/abc/cell");
    expect(calls[0]!.init).toMatchObject({ method: "POST", headers: { "content-type": "application/octet-stream" } });
    expect(calls[0]!.init.signal).toBeInstanceOf(AbortSignal);
  });

  it("turns a relay's JSON error into the protocol's LinkError carrying its code", async () => {
    const { fetch } = fakeFetch(() => Response.json({ error: "unknown_link", message: "No circuit with that link id." }, { status: 404 }));
    const failure = httpTransport({ fetch }).send("http://relay:1/relays/abc", new Uint8Array(1));
    await expect(failure).rejects.toBeInstanceOf(LinkError);
    await expect(failure).rejects.toMatchObject({ code: "unknown_link", message: "The relay at http://relay:1/relays/abc refused the cell (404 unknown_link): No circuit with that link id." });
  });

  it("says whether the cell certainly never left: a refused connection did not deliver it, a dropped one may have", async () => {
    await expect(httpTransport({ fetch: failing("ECONNREFUSED").fetch }).send("http://r", new Uint8Array(1))).rejects.toMatchObject({ status: 0, code: "relay_unreachable", message: "The relay at http://r could not be reached (ECONNREFUSED)." });
    await expect(httpTransport({ fetch: failing("ECONNRESET").fetch }).send("http://r", new Uint8Array(1))).rejects.toMatchObject({ status: 0, code: "link_failed", message: "The relay at http://r dropped the connection (ECONNRESET)." });
    const late = fakeFetch(() => Promise.reject(new DOMException("late", "TimeoutError")));
    await expect(httpTransport({ fetch: late.fetch }).send("http://r", new Uint8Array(1))).rejects.toMatchObject({ code: "link_timeout" });
  });
});

describe("linkTransport", () => {
  it("sends cells over a WebSocket to <address>/link, and by POST when the socket does not open", async () => {
    const opened: string[] = [];
    class ClosedSocket {
      binaryType = "blob";
      readyState = 3;
      private listeners = new Map<string, ((event: { data?: unknown }) => void)[]>();
      constructor(url: string) {
        opened.push(url);
        setTimeout(() => this.listeners.get("error")?.forEach((listener) => listener({})));
      }
      send() {}
      close() {}
      addEventListener(type: string, listener: (event: { data?: unknown }) => void) {
        this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
      }
    }
    const posted = fakeFetch(() => new Response(new Uint8Array([4, 2])));
    const transport = linkTransport({ WebSocket: ClosedSocket, fallback: httpTransport({ fetch: posted.fetch }) });
    expect(await transport.send("http://relay:1/relays/abc", new Uint8Array([1]))).toEqual(new Uint8Array([4, 2]));
    expect(opened).toEqual(["ws://relay:1/relays/abc/link"]);
    expect(posted.calls.map((call) => call.url)).toEqual(["http://relay:1/relays/abc/cell"]);
    transport.close();
  });
});
