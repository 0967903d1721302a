import { describe, expect, it } from "vitest";
import { MAX_CELL_BYTES } from "./cell.ts";
import { LinkError, MAX_ERROR_BODY_BYTES, NEIGHBOUR_HEADER, cellErrorStatus, cellUrl, decodeLinkError, fetchTransport } from "./link.ts";

type Call = { url: string; init: RequestInit };

function fakeFetch(answer: () => Response | Promise<Response>) {
  const calls: Call[] = [];
  const fetch = async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    return answer();
  };
  return { calls, fetch };
}

describe("the link contract", () => {
  it("POSTs the cell to <address>/cell as application/octet-stream, naming the neighbour only for a relay", async () => {
    const { calls, fetch } = fakeFetch(() => new Response(new Uint8Array([9, 8, 7])));
    expect(await fetchTransport({ fetch }).send("http://relay:1/relays/abc/", new Uint8Array([1, 2, 3]))).toEqual(new Uint8Array([9, 8, 7]));
    expect(calls[0]).toMatchObject({ url: "http://relay:1/relays/abc/cell", init: { method: "POST", headers: { "content-type": "application/octet-stream" }, body: new Uint8Array([1, 2, 3]) } });
    await fetchTransport({ fetch, neighbour: "f".repeat(64) }).send("http://relay:1/relays/abc", new Uint8Array(1));
    expect((calls[1]!.init.headers as Record<string, string>)[NEIGHBOUR_HEADER]).toBe("f".repeat(64));
  });

  it("turns a relay's JSON error into a LinkError with its status, its code and the relay's address", async () => {
    const { fetch } = fakeFetch(() => Response.json({ error: "unknown_link", message: "No circuit with that link id." }, { status: 404 }));
    const failure = fetchTransport({ fetch }).send("http://relay:1/relays/abc", new Uint8Array(1));
    await expect(failure).rejects.toBeInstanceOf(LinkError);
    await expect(failure).rejects.toMatchObject({ status: 404, code: "unknown_link", address: "http://relay:1/relays/abc", message: "The relay at http://relay:1/relays/abc refused the cell (404 unknown_link): No circuit with that link id." });
  });

  it("reads at most a small error body, and takes nothing unusual from it", async () => {
    const huge = fakeFetch(() => new Response(JSON.stringify({ error: "x", message: "y".repeat(MAX_ERROR_BODY_BYTES) }), { status: 502 }));
    await expect(fetchTransport({ fetch: huge.fetch }).send("http://r", new Uint8Array(1))).rejects.toMatchObject({ status: 502, code: "link_failed" });
    expect(decodeLinkError("http://r", 400, new TextEncoder().encode('{"error":"Bad Code!","message":"line\\nbreak\\u0007"}'))).toMatchObject({ code: "link_failed", message: "The relay at http://r refused the cell (400 link_failed): line break" });
    expect(decodeLinkError("http://r", 503, null)).toMatchObject({ status: 503, code: "link_failed", message: "The relay at http://r refused the cell (503 link_failed)." });
  });

  it("refuses an answer larger than any cell, and reports a fetch that threw with status 0", async () => {
    const large = fakeFetch(() => new Response("x", { headers: { "content-length": String(MAX_CELL_BYTES + 1) } }));
    await expect(fetchTransport({ fetch: large.fetch }).send("http://r", new Uint8Array(1))).rejects.toMatchObject({ status: 0, code: "link_failed" });
    const down = { fetch: () => Promise.reject(new TypeError("fetch failed")) };
    await expect(fetchTransport(down).send("http://r", new Uint8Array(1))).rejects.toMatchObject({ status: 0, code: "link_failed", message: "The relay at http://r could not be reached or dropped the connection." });
    const late = { fetch: () => Promise.reject(Object.assign(new Error("late"), { name: "TimeoutError" })) };
    await expect(fetchTransport(late).send("http://r", new Uint8Array(1))).rejects.toMatchObject({ status: 0, code: "link_timeout" });
    const refused = { fetch: down.fetch, networkFailure: () => ({ code: "relay_unreachable" as const, words: "could not be reached (ECONNREFUSED)" }) };
    await expect(fetchTransport(refused).send("http://r", new Uint8Array(1))).rejects.toMatchObject({ code: "relay_unreachable", message: "The relay at http://r could not be reached (ECONNREFUSED)." });
  });

  it("names the cell URL and the status of each cell error", () => {
    expect(cellUrl("http://a/relays/x//")).toBe("http://a/relays/x/cell");
    expect([cellErrorStatus("unknown_link"), cellErrorStatus("message_too_large"), cellErrorStatus("malformed_cell")]).toEqual([404, 413, 400]);
  });
});
