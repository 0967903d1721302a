import { EndReason, LinkError, StreamError } from "@shallot/protocol";
import { describe, expect, it } from "vitest";
import { CliError } from "../errors.ts";
import { SocksReply, describeRefusal } from "./refusal.ts";

const refused = (reason: number) => describeRefusal(new StreamError(reason, "refused"), "example.com:25");

describe("a stream the exit did not open, for CONNECT and SOCKS5", () => {
  it("maps the exit's END reasons as Tor's SocksPort does, and to HTTP statuses", () => {
    expect(refused(EndReason.EXITPOLICY)).toEqual({ status: 403, error: "destination_refused", message: "The exit did not open a connection to example.com:25: the exit policy refuses this host or port.", socks: SocksReply.NOT_ALLOWED });
    expect(refused(EndReason.RESOLVEFAILED)).toMatchObject({ status: 502, error: "resolve_failed", socks: SocksReply.HOST_UNREACHABLE });
    expect(refused(EndReason.CONNECTREFUSED)).toMatchObject({ status: 502, error: "connection_refused", socks: SocksReply.CONNECTION_REFUSED });
    expect(refused(EndReason.TIMEOUT)).toMatchObject({ status: 504, error: "destination_timeout", socks: SocksReply.TTL_EXPIRED });
    expect(refused(EndReason.NOROUTE)).toMatchObject({ status: 502, socks: SocksReply.HOST_UNREACHABLE });
    expect(refused(EndReason.RESOURCELIMIT)).toMatchObject({ status: 503, error: "exit_busy", socks: SocksReply.GENERAL_FAILURE });
    expect(refused(EndReason.MISC)).toMatchObject({ status: 502, error: "stream_failed", socks: SocksReply.GENERAL_FAILURE });
    expect(refused(200)).toMatchObject({ status: 502, error: "stream_failed", message: "The exit did not open a connection to example.com:25: END reason 200.", socks: SocksReply.GENERAL_FAILURE });
  });

  it("reports a failed circuit or no circuit at all as a general failure with its own status", () => {
    expect(describeRefusal(new StreamError(0, "The circuit carrying the stream failed."), "h:1")).toMatchObject({ status: 502, error: "circuit_failed", socks: SocksReply.GENERAL_FAILURE });
    expect(describeRefusal(new CliError("directory_unreachable", "The directory is down.", 503), "h:1")).toMatchObject({ status: 503, error: "directory_unreachable", socks: SocksReply.GENERAL_FAILURE });
    expect(describeRefusal(new LinkError("http://r", 0, "link_failed", "dropped"), "h:1")).toMatchObject({ status: 502, error: "circuit_failed" });
  });
});
