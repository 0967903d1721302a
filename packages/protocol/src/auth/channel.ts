// The auth flows' channel to the auth server: every request is a Binary HTTP message padded to a
// bucket (bhttp.ts), encapsulated with Oblivious HTTP to the server's pinned public key (ohttp.ts)
// and POSTed to <server>/ohttp by `post`, which the caller points at a circuit. The exit sees one
// route, one content type and one length; it cannot read, alter, replay or answer in the server's
// place (an answer that does not open is refused). The key is never learned through the circuit.

import { type Bytes, fromUtf8, utf8 } from "../bytes.ts";
import { decodeBinaryResponse, encodeBinaryRequest, authPaddedLength } from "./bhttp.ts";
import { type AuthAnswer, type AuthChannel, AuthClientError, type AuthRequest } from "./client.ts";
import { OHTTP_REQUEST_TYPE, OHTTP_RESPONSE_TYPE, OhttpError, encapsulateRequest, ohttpKeyConfigFor } from "./ohttp.ts";

/** The auth server's route for encapsulated requests. */
export const OHTTP_PATH = "/ohttp";

/** One POST of an encapsulated request to <server>/ohttp, e.g. through a circuit. */
export type EncapsulatedPost = (body: Bytes, contentType: typeof OHTTP_REQUEST_TYPE) => Promise<{ status: number; contentType: string | null; body: Bytes }>;

export interface PinnedServer {
  /** Base URL, e.g. https://auth.example (no trailing slash). */
  url: string;
  /** The server's raw 32-byte X25519 public key, from the client's own configuration. */
  publicKey: Bytes;
}

/** An AuthChannel whose requests only the pinned server can read and whose answers only it can write. */
export async function ohttpChannel(server: PinnedServer, post: EncapsulatedPost): Promise<AuthChannel> {
  const config = await ohttpKeyConfigFor(server.publicKey);
  const url = new URL(server.url);
  const scheme = url.protocol.replace(/:$/, "");
  return {
    binding: server.publicKey,
    async send(request: AuthRequest): Promise<AuthAnswer> {
      const headers: [string, string][] = [["accept", "application/json"]];
      if (request.body !== undefined) headers.push(["content-type", "application/json"]);
      if (request.token !== undefined) headers.push(["authorization", `Bearer ${request.token}`]);
      const content = request.body === undefined ? new Uint8Array(0) : utf8(JSON.stringify(request.body));
      const inner = { method: request.method, scheme, authority: url.host, path: request.path, headers, content };
      const unpadded = encodeBinaryRequest(inner).length;
      let encapsulated: Bytes;
      let openResponse: (answer: Bytes) => Promise<Bytes>;
      try {
        ({ encapsulated, openResponse } = await encapsulateRequest(config, encodeBinaryRequest(inner, authPaddedLength(unpadded))));
      } catch {
        // A low-order point, for one: nothing can be encrypted to it.
        throw new AuthClientError("bad_server_key", `The key pinned for ${server.url} is not a usable X25519 public key.`);
      }

      const answer = await post(encapsulated, OHTTP_REQUEST_TYPE);
      if (answer.status !== 200 || answer.contentType?.split(";")[0]?.trim().toLowerCase() !== OHTTP_RESPONSE_TYPE) {
        // Unauthenticated, so only reported: anyone on the path could have written it.
        throw new AuthClientError("not_encapsulated", `The auth server at ${server.url} answered ${answer.status}${describeError(answer.body)} instead of an encapsulated response.`);
      }
      let response;
      try {
        response = decodeBinaryResponse(await openResponse(answer.body));
      } catch (error) {
        const why = error instanceof OhttpError ? error.message : "its content is not a Binary HTTP response.";
        throw new AuthClientError("bad_encapsulated_answer", `The answer from ${server.url} was refused: ${why}`);
      }
      let body: unknown;
      try {
        body = JSON.parse(fromUtf8(response.content));
      } catch {
        throw new AuthClientError("bad_encapsulated_answer", `The auth server at ${server.url} answered ${request.path} with ${response.status} and no JSON.`);
      }
      return { status: response.status, body };
    },
  };
}

/** ` (code)` from a plain JSON error body, for the message. */
function describeError(body: Bytes): string {
  try {
    const parsed = JSON.parse(fromUtf8(body)) as { error?: unknown };
    return typeof parsed.error === "string" && /^[a-z_]{1,40}$/.test(parsed.error) ? ` (${parsed.error})` : "";
  } catch {
    return "";
  }
}
