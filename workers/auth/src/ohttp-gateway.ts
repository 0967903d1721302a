// POST /ohttp: the Oblivious HTTP gateway (RFC 9458) in front of this server's own JSON API. It opens
// the encapsulated Binary HTTP request with the server's HPKE key, hands it to the same handlers
// the plain API uses, and encapsulates their answer, padded to a bucket, for that client alone.

import {
  type Bytes,
  BinaryHttpError,
  OHTTP_PATH,
  OHTTP_REQUEST_TYPE,
  OHTTP_RESPONSE_TYPE,
  OhttpError,
  authPaddedLength,
  decapsulateRequest,
  decodeBinaryRequest,
  encodeBinaryResponse,
} from "@shallot/protocol";
import type { Env } from "./env.ts";
import { serverKey } from "./hpke-key.ts";
import { ApiError } from "./http-error.ts";

/** The server key an inner request arrived encrypted to: SCRAM binds to it (proof.ts). Not forgeable by a header. */
const channelBindings = new WeakMap<Request, Bytes>();
export const channelBindingOf = (request: Request): Bytes | undefined => channelBindings.get(request);

/** Only what the handlers read crosses into the inner request. */
const INNER_HEADERS = new Set(["content-type", "authorization"]);

type Dispatch = (request: Request) => Promise<Response>;

export async function handleEncapsulated(request: Request, env: Env, dispatch: Dispatch): Promise<Response> {
  const type = request.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type !== OHTTP_REQUEST_TYPE) throw new ApiError(415, "encapsulation_invalid", `POST ${OHTTP_PATH} takes a ${OHTTP_REQUEST_TYPE} body (RFC 9458).`);
  const key = await serverKey(env.AUTH_HPKE_KEY);
  let opened;
  try {
    opened = await decapsulateRequest({ keyId: key.ohttpKeyId, privateKey: key.privateKey }, new Uint8Array(await request.arrayBuffer()));
  } catch (error) {
    if (!(error instanceof OhttpError)) throw error;
    const code = error.code === "unknown_key" || error.code === "unsupported_suite" ? error.code : "encapsulation_invalid";
    throw new ApiError(400, code, `${error.message} The server's key is at GET /.well-known/ohttp-gateway; clients pin it out of band.`);
  }

  let answer: Response;
  try {
    answer = await dispatch(innerRequest(decodeBinaryRequest(opened.request), key.publicKey));
  } catch (error) {
    if (!(error instanceof BinaryHttpError || error instanceof ApiError)) throw error;
    // Past decapsulation every answer is encapsulated, errors included, so the client can trust it.
    const message = error instanceof ApiError ? error.message : `The encapsulated request is not Binary HTTP: ${error.message}.`;
    answer = Response.json({ error: error instanceof ApiError ? error.code : "encapsulation_invalid", message }, { status: error instanceof ApiError ? error.status : 400 });
  }
  const content = new Uint8Array(await answer.arrayBuffer());
  const headers: [string, string][] = [["content-type", answer.headers.get("content-type") ?? "application/json"]];
  const inner = encodeBinaryResponse({ status: answer.status, headers, content });
  return new Response(await opened.sealResponse(encodeBinaryResponse({ status: answer.status, headers, content }, authPaddedLength(inner.length))), {
    status: 200,
    headers: { "content-type": OHTTP_RESPONSE_TYPE, "cache-control": "no-store" },
  });
}

function innerRequest(request: ReturnType<typeof decodeBinaryRequest>, publicKey: Bytes): Request {
  if (request.method !== "GET" && request.method !== "POST") throw new ApiError(400, "invalid_request", "An encapsulated request is a GET or a POST.");
  // Checked as the router will see it: "/./ohttp" or "/x/../ohttp" is /ohttp once the URL is parsed.
  // "//x/…" would name a host, not a path.
  const path = /^\/(?!\/)[A-Za-z0-9._~/-]*$/.test(request.path) ? new URL(request.path, "https://auth.internal").pathname : null;
  if (path === null || path === OHTTP_PATH || path.replace(/\/+$/, "") === OHTTP_PATH) {
    throw new ApiError(400, "invalid_request", "An encapsulated request names one of this server's routes other than /ohttp.");
  }
  const headers = new Headers();
  try {
    for (const [name, value] of request.headers) if (INNER_HEADERS.has(name)) headers.set(name, value);
  } catch {
    throw new ApiError(400, "invalid_request", "An encapsulated request's header value is not a valid HTTP field value.");
  }
  const inner = new Request(`https://auth.internal${path}`, { method: request.method, headers, body: request.method === "POST" ? request.content : undefined });
  channelBindings.set(inner, publicKey);
  return inner;
}
