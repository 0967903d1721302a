// The human status page at GET /: each authority and its vote, the consensus served and each
// relay's flags, and this authority's own reachability tests. Every interpolated value goes
// through escapeHtml.

import type { RelayFlag } from "@shallot/protocol";
import type { StatusSnapshot } from "./directory.ts";

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export const escapeHtml = (value: string | number): string => String(value).replace(/[&<>"']/g, (ch) => ENTITIES[ch]!);

const iso = (ms: number): string => new Date(ms).toISOString();
const ago = (now: number, then: number): string => `${Math.max(0, Math.round((now - then) / 1000))} s ago`;
const duration = (ms: number): string => (ms < 120_000 ? `${Math.round(ms / 1000)} s` : ms < 7_200_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 3_600_000)} h`);
const short = (text: string, length = 12) => `<code title="${escapeHtml(text)}">${escapeHtml(text.slice(0, length))}…</code>`;
const flags = (list: readonly RelayFlag[] | undefined): string => (list ? escapeHtml(list.join(" ")) : "—");

export function renderStatusPage(status: StatusSnapshot): string {
  const { now, config, consensus, authorities, round } = status;
  const authorityRows = authorities
    .map((a) => {
      const vote = a.equivocated ? "<strong>two different votes: not counted</strong>" : a.vote ? `${escapeHtml(a.vote.size)} relay${a.vote.size === 1 ? "" : "s"}` : "none received";
      return `<tr><td>${a.self ? "<strong>this authority</strong>" : ""}</td><td>${escapeHtml(a.url)}</td><td>${short(a.key, 16)}</td><td>${vote}</td><td>${a.signed ? "signed" : "—"}</td></tr>`;
    })
    .join("\n");

  // Every relay any vote, the consensus or this authority's table names.
  const ids = new Set<string>([...(consensus?.relays.map((r) => r.id) ?? []), ...status.relays.map((r) => r.id), ...authorities.flatMap((a) => [...(a.vote?.keys() ?? [])])]);
  const listed = new Map(consensus?.relays.map((r) => [r.id, r]) ?? []);
  const mine = new Map(status.relays.map((r) => [r.id, r]));
  const relayRows = [...ids]
    .sort()
    .map((id) => {
      const address = listed.get(id)?.address ?? mine.get(id)?.address ?? "";
      const test = mine.get(id);
      const tested = !test
        ? "—"
        : test.testedAt === null
          ? "not tested yet"
          : test.runningSince !== null
            ? `passed (up ${escapeHtml(duration(now - test.runningSince))})`
            : `failed: ${escapeHtml(test.lastFailure ?? "")}`;
      const votes = authorities.map((a) => `<td>${flags(a.vote?.get(id))}</td>`).join("");
      return `<tr><td>${short(id)}</td><td>${escapeHtml(address)}</td><td><strong>${listed.has(id) ? flags(listed.get(id)!.flags) : "not listed"}</strong></td>${votes}<td>${tested}</td></tr>`;
    })
    .join("\n");

  const consensusLine = consensus
    ? `Consensus of the round ${escapeHtml(iso(consensus.round))}: <strong>${escapeHtml(consensus.relays.length)}</strong> relay${consensus.relays.length === 1 ? "" : "s"}, signed by <strong>${escapeHtml(consensus.signatures)}</strong> of ${escapeHtml(authorities.length)} authorities (clients need ${escapeHtml(consensus.needed)}), valid until ${escapeHtml(iso(consensus.validUntil))}.`
    : "No consensus yet: the first round is under way.";
  const allowlist = config.allowedHosts ? `only ${escapeHtml([...config.allowedHosts].join(", "))}` : "any host";

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>Shallot directory authority</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse;margin-bottom:1.5rem}td,th{padding:.25rem .75rem;border-bottom:1px solid #ddd;text-align:left}</style>
</head>
<body>
<h1>Shallot directory authority</h1>
<p>This authority's key (Ed25519): <code>${escapeHtml(status.self)}</code></p>
<p>${consensusLine}</p>
<p>Round every ${escapeHtml(duration(config.periodMs))}; at most ${escapeHtml(config.maxRelaysPerHost)} relays per deployment host; relays admitted from ${allowlist}; Stable after ${escapeHtml(duration(config.stableAfterMs))} up, Guard after ${escapeHtml(duration(config.guardAfterMs))}. Page made ${escapeHtml(iso(now))}.</p>
<h2>Authorities and their votes (round ${escapeHtml(iso(round))}, ${escapeHtml(ago(now, round))})</h2>
<table>
<thead><tr><th></th><th>URL</th><th>Key</th><th>Vote</th><th>Consensus</th></tr></thead>
<tbody>
${authorityRows}
</tbody>
</table>
<h2>Relays and their flags</h2>
<table>
<thead><tr><th>Relay</th><th>Address</th><th>Consensus flags</th>${authorities.map((a, i) => `<th title="${escapeHtml(a.url)}">Vote of ${a.self ? "this authority" : `authority ${i + 1}`}</th>`).join("")}<th>This authority's test</th></tr></thead>
<tbody>
${relayRows || `<tr><td colspan="${4 + authorities.length}">No relays are registered.</td></tr>`}
</tbody>
</table>
</body>
</html>
`;
}
