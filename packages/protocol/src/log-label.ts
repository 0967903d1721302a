// What a log line may say about a failure. An error's message can quote a URL, a header, a body or
// a client's address (a JSON parse error quotes the input; a fetch error names the destination), so
// a log gets the error's class and, for our own and the runtime's errors, their code: never the message.

const CODE = /^[A-Za-z0-9_]{1,64}$/;

/** `TypeError`, `ProtocolError (extend_failed)`, `Error (ECONNREFUSED)`; `string` for a thrown non-Error. */
export function logLabel(error: unknown): string {
  if (!(error instanceof Error)) return typeof error;
  const name = CODE.test(error.name) ? error.name : "Error";
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && CODE.test(code) ? `${name} (${code})` : name;
}
