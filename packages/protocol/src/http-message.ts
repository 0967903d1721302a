// The HTTP request the exit performs and the response it sends back, as carried in
// REQUEST / RESPONSE / ERROR relay cells: u32 meta length | meta JSON (UTF-8) | body.

import * as v from "valibot";
import { type Bytes, ByteReader, ByteWriter, fromUtf8, utf8 } from "./bytes.ts";
import { ProtocolError } from "./errors.ts";

export const EXIT_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] as const;
export type ExitMethod = (typeof EXIT_METHODS)[number];

const HeaderList = v.pipe(v.array(v.tuple([v.pipe(v.string(), v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/)), v.string()])), v.maxLength(256));

const RequestMeta = v.strictObject({
  method: v.picklist(EXIT_METHODS),
  url: v.pipe(v.string(), v.maxLength(8192), v.url()),
  headers: HeaderList,
});
const ResponseMeta = v.strictObject({
  status: v.pipe(v.number(), v.integer(), v.minValue(200), v.maxValue(599)),
  statusText: v.pipe(v.string(), v.maxLength(1024)),
  headers: HeaderList,
});
const ErrorMeta = v.strictObject({
  error: v.pipe(v.string(), v.regex(/^[a-z_]{1,64}$/)),
  message: v.pipe(v.string(), v.maxLength(1024)),
  status: v.pipe(v.number(), v.integer(), v.minValue(400), v.maxValue(599)),
});

export type HttpRequestMeta = v.InferOutput<typeof RequestMeta>;
export type HttpResponseMeta = v.InferOutput<typeof ResponseMeta>;
/** A failure the exit reports instead of a response; `status` is what the gateway should answer. */
export type ExitError = v.InferOutput<typeof ErrorMeta>;

export interface HttpRequestMessage extends HttpRequestMeta {
  body: Bytes;
}
export interface HttpResponseMessage extends HttpResponseMeta {
  body: Bytes;
}

function encode(meta: unknown, body: Bytes): Bytes {
  const json = utf8(JSON.stringify(meta));
  return new ByteWriter(4 + json.length + body.length).u32(json.length).raw(json).raw(body).bytes;
}

function decode<S extends v.GenericSchema>(schema: S, data: Bytes, what: string): { meta: v.InferOutput<S>; body: Bytes } {
  try {
    const reader = new ByteReader(data);
    const meta = JSON.parse(fromUtf8(reader.raw(reader.u32())));
    const parsed = v.safeParse(schema, meta);
    if (!parsed.success) throw new Error(parsed.issues[0]?.message);
    return { meta: parsed.output, body: reader.rest() };
  } catch {
    throw new ProtocolError("malformed_message", `The ${what} carried by the circuit is malformed.`);
  }
}

export const encodeHttpRequest = ({ body, ...meta }: HttpRequestMessage): Bytes => encode(meta, body);
export const encodeHttpResponse = ({ body, ...meta }: HttpResponseMessage): Bytes => encode(meta, body);

/** The same bytes as encode(), as [head, body]: a sealer writes them once instead of copying the body twice. */
function encodeParts(meta: unknown, body: Bytes): [Bytes, Bytes] {
  const json = utf8(JSON.stringify(meta));
  return [new ByteWriter(4 + json.length).u32(json.length).raw(json).bytes, body];
}
export const encodeHttpRequestParts = ({ body, ...meta }: HttpRequestMessage): [Bytes, Bytes] => encodeParts(meta, body);
export const encodeHttpResponseParts = ({ body, ...meta }: HttpResponseMessage): [Bytes, Bytes] => encodeParts(meta, body);
export const encodeExitError = (error: ExitError): Bytes => encode(error, new Uint8Array(0));

export function decodeHttpRequest(data: Bytes): HttpRequestMessage {
  const { meta, body } = decode(RequestMeta, data, "request");
  return { ...meta, body };
}

/**
 * Whether a response's status, status text and headers are what a RESPONSE may carry (status
 * 200–599, at most 256 headers, token names). The exit checks before it seals one: an answer the
 * client would reject as malformed reads as a broken circuit, and would be sent again.
 */
export const isCarriableResponse = (meta: HttpResponseMeta): boolean => v.is(ResponseMeta, meta);

export function decodeHttpResponse(data: Bytes): HttpResponseMessage {
  const { meta, body } = decode(ResponseMeta, data, "response");
  return { ...meta, body };
}

export function decodeExitError(data: Bytes): ExitError {
  return decode(ErrorMeta, data, "error").meta;
}
