import { describe, expect, it } from "vitest";
import { LinkError } from "./errors.ts";
import { MAX_CELL_BYTES } from "@shallot/protocol";
import { cellUrl, httpTransport } from "./transport.ts";

type Call = { url: string; init: RequestInit };

function fakeFetch(answer: () => Response | Promise<Response>) {
  const calls: Call[] = [];
  const fetch = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    return answer();
  }) as unknown as typeof globalThis.fetch;
  return { calls, fetch };
}

describe("httpTransport", () => {
  it("POSTs the cell to <address>/cell as application/octet-stream and returns the answer's bytes", async () => {
    const { calls, fetch } = fakeFetch(() => new Response(new Uint8Array([9, 8, 7])));
    const answer = await httpTransport({ fetch }).send("http://relay:1/relays/abc/", new Uint8Array([1, 2, 3]));
    expect(answer).toEqual(new Uint8Array([9, 8, 7]));
    expect(calls[0]!.url).toBe("http://relay:1/relays/abc/cell");
    expect(calls[0]!.init.method).toBe("POST");
    expect(calls[0]!.init.headers).toEqual({ "content-type": "application/octet-stream" });
    expect(calls[0]!.init.body).toEqual(new Uint8Array([1, 2, 3]));
  });

  it("turns a relay's JSON error into a LinkError carrying its code", async () => {
    const { fetch } = fakeFetch(() => Response.json({ error: "unknown_link", message: "No circuit with that link id." }, { status: 404 }));
    const failure = httpTransport({ fetch }).send("http://relay:1/relays/abc", new Uint8Array(1));
    await expect(failure).rejects.toBeInstanceOf(LinkError);
    await expect(failure).rejects.toMatchObject({ code: "unknown_link", message: "The relay at http://relay:1/relays/abc refused the cell (404 unknown_link): No circuit with that link id." });
  });

  it("reports an unreachable relay and an oversized answer", async () => {
    const down = fakeFetch(() => Promise.reject(Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNRESET" } })));
    await expect(httpTransport({ fetch: down.fetch }).send("http://r", new Uint8Array(1))).rejects.toMatchObject({ code: "relay_unreachable", message: "The relay at http://r dropped the connection (ECONNRESET)." });
    const refused = fakeFetch(() => Promise.reject(Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } })));
    await expect(httpTransport({ fetch: refused.fetch }).send("http://r", new Uint8Array(1))).rejects.toMatchObject({ message: "The relay at http://r could not be reached (ECONNREFUSED)." });
    const huge = fakeFetch(() => new Response("x", { headers: { "content-length": String(MAX_CELL_BYTES + 1) } }));
    await expect(httpTransport({ fetch: huge.fetch }).send("http://r", new Uint8Array(1))).rejects.toMatchObject({ code: "link_failed" });
  });

  it("cellUrl appends /cell once", () => {
    expect(cellUrl("http://a/relays/x")).toBe("http://a/relays/x/cell");
    expect(cellUrl("http://a/relays/x//")).toBe("http://a/relays/x/cell");
  });
});
