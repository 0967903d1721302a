// The browser page (workers/relay/page), served by the worker itself from the module
// scripts/build-page.mjs generates: GET and HEAD, a strong ETag, and the page's security headers.

import { PAGE_FILES, type PageFile } from "../public/page-files.ts";

/** Each path the page answers on and its file; "/" is its index.html. */
export const PAGE_ROUTES: [string, PageFile][] = [["/", PAGE_FILES["/index.html"]!], ...Object.entries(PAGE_FILES)];

/**
 * The page runs its own onion client, so what it may load and send is pinned: scripts and styles
 * from here only, no frames, no forms. connect-src stays open to http(s): relay addresses come from
 * the consensus and may be anywhere.
 */
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self' http: https:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/** Answers GET or HEAD of one of the page's files. */
export function servePage(request: Request, file: PageFile): Response {
  const headers = new Headers({
    ...SECURITY_HEADERS,
    "content-type": file.type,
    etag: file.etag,
    // Small files that change with each deployment: kept, but checked every time (a 304 costs nothing).
    "cache-control": "public, max-age=0, must-revalidate",
  });
  // RFC 9110 13.1.2: "*" matches any current representation; tags compare weakly for GET and HEAD.
  const known = request.headers.get("if-none-match");
  if (known !== null && (known.trim() === "*" || known.split(",").some((tag) => tag.trim().replace(/^W\//, "") === file.etag))) return new Response(null, { status: 304, headers });
  return new Response(request.method === "HEAD" ? null : file.body, { headers });
}
