// The one error shape every endpoint answers with: { error, message }, never a stack trace.

export const errorResponse = (status: number, code: string, message: string): Response =>
  Response.json({ error: code, message }, { status, headers: { "cache-control": "no-store" } });
