import { describe, expect, it } from "vitest";
import { errorLine, formatAge, formatResponseHead } from "./output.ts";

describe("formatResponseHead (-i)", () => {
  it("writes the status line and headers with CRLF, then a blank line", () => {
    const head = formatResponseHead({ status: 201, statusText: "Created", headers: [["content-type", "text/plain"], ["set-cookie", "a=1"], ["set-cookie", "b=2"]] });
    expect(head).toBe("HTTP/1.1 201 Created\r\ncontent-type: text/plain\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n\r\n");
  });

  it("fills in the reason phrase when the exit sent none", () => {
    expect(formatResponseHead({ status: 404, statusText: "", headers: [] })).toBe("HTTP/1.1 404 Not Found\r\n\r\n");
    expect(formatResponseHead({ status: 599, statusText: "", headers: [] })).toBe("HTTP/1.1 599\r\n\r\n");
  });
});

describe("small formats", () => {
  it("errors are one line prefixed with onion:", () => {
    expect(errorLine("it broke")).toBe("onion: it broke\n");
  });

  it("ages read naturally, future ones too", () => {
    expect(formatAge(250)).toBe("250 ms ago");
    expect(formatAge(3_200)).toBe("3.2 s ago");
    expect(formatAge(600_000)).toBe("10 min ago");
    expect(formatAge(-1_500)).toBe("in 1.5 s");
  });
});
