import { describe, expect, it } from "vitest";
import { AuthClientError, LinkError, ProtocolError } from "@shallot/protocol";
import { CliError, UsageError, describeFailure, networkReason } from "./errors.ts";

describe("describeFailure", () => {
  it("gives every failure a code, one line and the proxy's status", () => {
    expect(describeFailure(new CliError("directory_unreachable", "The directory could not be reached.", 503))).toEqual({ code: "directory_unreachable", message: "The directory could not be reached.", status: 503 });
    expect(describeFailure(new UsageError("bad\nflag"))).toEqual({ code: "usage", message: "bad flag", status: 400 });
    expect(describeFailure(new ProtocolError("not_enough_relays", "A circuit needs 3 distinct relays; the consensus has 2 usable."))).toMatchObject({ code: "not_enough_relays", status: 503 });
    expect(describeFailure(new ProtocolError("extend_failed", "The next hop could not be reached."))).toEqual({ code: "circuit_failed", message: "The circuit failed (extend_failed): The next hop could not be reached.", status: 502 });
    expect(describeFailure(new LinkError("http://r", 404, "unknown_relay", "The relay at http://r refused the cell."))).toEqual({ code: "circuit_failed", message: "The circuit failed: The relay at http://r refused the cell.", status: 502 });
    expect(describeFailure(new AuthClientError("server_not_authenticated", "no"))).toEqual({ code: "server_not_authenticated", message: "no", status: 502 });
    expect(describeFailure(new TypeError("x is undefined"))).toEqual({ code: "internal_error", message: "Unexpected failure: x is undefined", status: 502 });
  });
});

describe("networkReason", () => {
  it("names the system error under a fetch failure, or a timeout", () => {
    const refused = Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } });
    expect(networkReason(refused)).toBe("ECONNREFUSED");
    expect(networkReason(new DOMException("timed out", "TimeoutError"))).toBe("timed out");
    expect(networkReason(new TypeError("fetch failed"))).toBe("fetch failed");
  });
});
