// From `onion fetch` options to the HTTP request the exit performs: method, URL, headers, body.
// Pure: file and stdin contents are read by the command and passed in.

import { type Bytes, EXIT_METHODS, type ExitMethod, FORWARDED_REQUEST_HEADERS, type HttpRequestMessage, concat, forwardedRequestHeaders, isHttpUrl, utf8 } from "@shallot/protocol";
import { UsageError } from "./errors.ts";

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** The request meta's limit (docs/protocol.md, REQUEST). */
export const MAX_URL_LENGTH = 8192;

/** One -H argument: a header to send, or (curl's `Name:`) a header to leave out. */
export type HeaderArgument = { name: string; value: string } | { name: string; omit: true };

/** `Name: value` sends it; `Name;` sends it empty; `Name:` leaves it (and any default) out. */
export function parseHeader(text: string): HeaderArgument {
  const colon = text.indexOf(":");
  const semicolon = text.indexOf(";");
  if (colon < 0 && semicolon > 0 && text.slice(semicolon + 1).trim() === "") {
    return { name: checkName(text.slice(0, semicolon).trim(), text), value: "" };
  }
  if (colon < 0) throw new UsageError(`header '${text}' is not 'Name: value'`);
  const name = checkName(text.slice(0, colon).trim(), text);
  const value = text.slice(colon + 1).trim();
  if (/[\r\n\0]/.test(value)) throw new UsageError(`header '${name}' has a line break or NUL in its value`);
  return value === "" ? { name, omit: true } : { name, value };
}

function checkName(name: string, text: string): string {
  if (!TOKEN.test(name)) throw new UsageError(`header '${text}' has no valid name before the colon`);
  return name.toLowerCase();
}

/** An absolute http(s) URL, normalised as the WHATWG URL parser writes it. */
export function parseTargetUrl(text: string): string {
  if (!isHttpUrl(text)) {
    const hint = /^[a-z][a-z0-9+.-]*:/i.test(text) ? "only http:// and https:// URLs can be fetched" : "it needs a scheme, as in http://example.com/";
    throw new UsageError(`'${text}' is not an absolute http(s) URL: ${hint}`);
  }
  const href = new URL(text).href;
  if (href.length > MAX_URL_LENGTH) throw new UsageError(`the URL is longer than ${MAX_URL_LENGTH} characters`);
  return href;
}

export function parseMethod(text: string | undefined, hasBody: boolean, head: boolean): ExitMethod {
  const method = (text ?? (head ? "HEAD" : hasBody ? "POST" : "GET")).toUpperCase();
  if (!(EXIT_METHODS as readonly string[]).includes(method)) {
    throw new UsageError(`the method ${method} cannot go through a circuit; use ${EXIT_METHODS.join(", ")}`);
  }
  if (head && method !== "HEAD") throw new UsageError(`-I sends HEAD; it cannot be combined with -X ${method}`);
  if (hasBody && (method === "GET" || method === "HEAD")) throw new UsageError(`a ${method} request cannot carry a body (-d / --data-binary)`);
  return method as ExitMethod;
}

/** Pieces of body joined as curl joins repeated -d: with `&`. No pieces is an empty body. */
export function joinData(parts: readonly Bytes[]): Bytes {
  const separated: Bytes[] = [];
  parts.forEach((part, i) => {
    if (i > 0) separated.push(utf8("&"));
    separated.push(part);
  });
  return concat(...separated);
}

/** curl's -d @FILE: carriage returns and newlines are dropped. */
export const stripNewlines = (bytes: Bytes): Bytes => bytes.filter((byte) => byte !== 0x0a && byte !== 0x0d) as Bytes;

export interface RequestInput {
  url: string;
  method?: string;
  head: boolean;
  headers: readonly string[];
  /** -A: the user-agent to send; none is sent otherwise (unless given with -H). */
  userAgent?: string;
  /** Each -d / --data-binary piece, already read. */
  data: readonly Bytes[];
}

/** The headers as the user asked for them: -H in order, then -A (unless -H names a user-agent). */
function requestedHeaders(input: RequestInput): { headers: [string, string][]; omitted: Set<string> } {
  const headers: [string, string][] = [];
  const omitted = new Set<string>();
  for (const text of input.headers) {
    const header = parseHeader(text);
    if ("omit" in header) omitted.add(header.name);
    else headers.push([header.name, header.value]);
  }
  const named = new Set(headers.map(([name]) => name));
  if (input.userAgent !== undefined && !named.has("user-agent") && !omitted.has("user-agent")) {
    if (/[\r\n\0]/.test(input.userAgent)) throw new UsageError("the user-agent has a line break or NUL in it");
    headers.push(["user-agent", input.userAgent]);
  }
  if (input.data.length > 0 && !named.has("content-type") && !omitted.has("content-type")) headers.push(["content-type", "application/x-www-form-urlencoded"]);
  return { headers: headers.filter(([name]) => !omitted.has(name)), omitted };
}

/**
 * The REQUEST message. Only the headers exits forward cross the circuit (http-headers.ts, an
 * allowlist); this command adds none of its own, not even a user-agent, unless asked (-A, -H).
 */
export function buildRequest(input: RequestInput): HttpRequestMessage {
  const url = parseTargetUrl(input.url);
  const method = parseMethod(input.method, input.data.length > 0, input.head);
  return { method, url, headers: forwardedRequestHeaders(requestedHeaders(input).headers), body: joinData(input.data) };
}

/**
 * The request as it goes over a stream (https://, TLS from here to the origin): every header the
 * user asked for, since no exit reads or forwards them. Host comes from the URL.
 */
export function buildStreamRequest(input: RequestInput): HttpRequestMessage {
  const url = parseTargetUrl(input.url);
  const method = parseMethod(input.method, input.data.length > 0, input.head);
  return { method, url, headers: requestedHeaders(input).headers, body: joinData(input.data) };
}

/** Names of the headers asked for that will not be sent, because exits do not forward them. */
export function notForwarded(input: RequestInput): string[] {
  return [...new Set(requestedHeaders(input).headers.map(([name]) => name).filter((name) => !FORWARDED_REQUEST_HEADERS.has(name)))];
}
