// The human status page at GET /. Every interpolated value goes through escapeHtml.

import type { StatusSnapshot } from "./directory.ts";

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export const escapeHtml = (value: string | number): string => String(value).replace(/[&<>"']/g, (ch) => ENTITIES[ch]!);

const iso = (ms: number): string => new Date(ms).toISOString();
const secondsAgo = (now: number, then: number): string => `${Math.max(0, Math.round((now - then) / 1000))} s ago`;

export function renderStatusPage(status: StatusSnapshot, publicKey: string): string {
  const { now, relays, consensusPublished } = status;
  const rows = relays
    .map(
      (r) => `<tr><td title="${escapeHtml(r.id)}"><code>${escapeHtml(r.id.slice(0, 12))}…</code></td>` +
        `<td>${escapeHtml(r.address)}</td><td>${escapeHtml(secondsAgo(now, r.lastSeen))}</td><td>${escapeHtml(iso(r.published))}</td></tr>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>Shallot directory</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}td,th{padding:.25rem .75rem;border-bottom:1px solid #ddd;text-align:left}</style>
</head>
<body>
<h1>Shallot directory</h1>
<p><strong>${escapeHtml(relays.length)}</strong> live relay${relays.length === 1 ? "" : "s"}.</p>
<p>Consensus published ${escapeHtml(iso(consensusPublished))} (${escapeHtml(secondsAgo(now, consensusPublished))}).</p>
<p>Directory key (Ed25519): <code>${escapeHtml(publicKey)}</code></p>
<table>
<thead><tr><th>Relay</th><th>Address</th><th>Last ping</th><th>Published</th></tr></thead>
<tbody>
${rows || '<tr><td colspan="4">No relays are registered.</td></tr>'}
</tbody>
</table>
</body>
</html>
`;
}
