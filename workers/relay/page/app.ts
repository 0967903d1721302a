// The browser page at /: fetches the consensus from the directory authorities and accepts it only
// when more than half of their pinned keys signed it, builds a circuit with WebCrypto in this tab
// (entering through this browser's guard, kept in localStorage) and sends requests through it. Data
// from the network is written with textContent only, never as HTML.

import {
  type Authority,
  CIRCUIT_REUSE_MS,
  type CircuitHop,
  ConsensusUnavailableError,
  type ConsensusDocument,
  type GuardStore,
  type ListedRelay,
  EXIT_METHODS,
  type ExitMethod,
  type ExitResult,
  type HttpRequestMessage,
  LinkError,
  OnionProxy,
  fetchTransport,
  isHttpUrl,
  consensusFromAuthorities,
  isAuthorityKey,
  isProtocolError,
  parseGuardState,
  utf8,
} from "@shallot/protocol/circuit";

const element = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const form = element<HTMLFormElement>("fetch-form");
const urlInput = element<HTMLInputElement>("url");
const methodSelect = element<HTMLSelectElement>("method");
const bodyInput = element<HTMLTextAreaElement>("body");
const newCircuitBox = element<HTMLInputElement>("new-circuit");
const fetchButton = element<HTMLButtonElement>("fetch");
const errorBox = element<HTMLParagraphElement>("error");
const consensusNote = element<HTMLParagraphElement>("consensus");
const relaysBody = element<HTMLTableElement>("relays").tBodies[0]!;
const circuitNote = element<HTMLParagraphElement>("circuit-note");
const hopsList = element<HTMLOListElement>("hops");
const statusLine = element<HTMLParagraphElement>("status");
const headersBox = element<HTMLPreElement>("response-headers");
const bodyBox = element<HTMLPreElement>("response-body");

const ROLES = ["entry", "middle", "exit"];
const BODY_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const CONSENSUS_REFRESH_MS = 15_000;
/** Larger bodies are cut for display; the page is not a download manager. */
const MAX_SHOWN_BYTES = 1024 * 1024;

/** A failure whose message is already written for the person using the page. */
class PageError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

interface PageConfig {
  /** The directory authorities, each URL with its pinned key. */
  authorities: Authority[];
  /** Two relays of one deployment never on one circuit (off only on a dev mesh of one deployment). */
  familyRule: boolean;
  /** How long a circuit is reused before the next request gets a new one (the gateway's window). */
  circuitReuseMs: number;
}

let consensus: ConsensusDocument | null = null;
/** Pinned authorities whose signatures the consensus shown carries. */
let signers: string[] = [];
/** Relay ids of the circuit that carried the last request. */
let circuitPath: string[] = [];
let busy = false;
let proxyReady: Promise<{ proxy: OnionProxy; config: PageConfig }> | null = null;

const shortId = (id: string) => `${id.slice(0, 12)}…`;
const millis = (ms: number) => `${Math.round(ms)} ms`;
const age = (ms: number) => (ms < 120_000 ? `${Math.max(0, Math.round(ms / 1000))} s ago` : `${Math.round(ms / 60_000)} min ago`);
const errorMessage = (body: unknown) => (body && typeof body === "object" && "message" in body && typeof body.message === "string" ? body.message : null);

function tableCell(text: string, options: { code?: boolean; title?: string } = {}): HTMLTableCellElement {
  const td = document.createElement("td");
  const inner = options.code ? document.createElement("code") : td;
  inner.textContent = text;
  if (options.title) inner.title = options.title;
  if (inner !== td) td.append(inner);
  return td;
}

function showError(message: string | null): void {
  errorBox.textContent = message ?? "";
  errorBox.hidden = message === null;
}

async function getJson(url: string, who: string): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, { cache: "no-store" });
  } catch {
    throw new PageError(`Could not reach ${who} at ${url}.`);
  }
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) throw new PageError(`${who} answered ${response.status}: ${errorMessage(body) ?? response.statusText}`);
  return body;
}

async function pageConfig(): Promise<PageConfig> {
  const body = await getJson("/page-config", "This relay worker");
  const { authorities, familyRule, circuitReuseMs } = (body ?? {}) as Partial<PageConfig>;
  const valid = (a: unknown): a is Authority => typeof a === "object" && a !== null && typeof (a as Authority).url === "string" && isHttpUrl((a as Authority).url) && typeof (a as Authority).key === "string" && isAuthorityKey((a as Authority).key);
  if (!Array.isArray(authorities) || authorities.length === 0 || !authorities.every(valid) || typeof familyRule !== "boolean") throw new PageError("The page configuration is malformed.");
  if (circuitReuseMs === undefined) return { authorities, familyRule, circuitReuseMs: CIRCUIT_REUSE_MS };
  if (typeof circuitReuseMs !== "number" || !Number.isInteger(circuitReuseMs) || circuitReuseMs < 1) throw new PageError("The page configuration is malformed.");
  return { authorities, familyRule, circuitReuseMs };
}

/** This browser's entry guards, kept across visits (per set of authorities). */
function localGuards(config: PageConfig): GuardStore {
  const key = `shallot-guards:${config.authorities.map((a) => a.key).sort().join(",")}`;
  return {
    load: async () => {
      try {
        return parseGuardState(JSON.parse(localStorage.getItem(key) ?? "null"));
      } catch {
        return null;
      }
    },
    save: async (state) => {
      try {
        localStorage.setItem(key, JSON.stringify(state));
      } catch {
        // Storage off (private mode): the guards last as long as the tab.
      }
    },
  };
}

function renderRelays(listed: ConsensusDocument | null): void {
  const now = Date.now();
  relaysBody.replaceChildren(
    ...(listed?.relays ?? []).map((relay) => {
      const row = document.createElement("tr");
      row.dataset.relayId = relay.id;
      if (circuitPath.includes(relay.id)) row.className = "in-circuit";
      row.append(tableCell(shortId(relay.id), { code: true, title: relay.id }), tableCell(relay.address, { title: relay.address }), tableCell(relay.flags.join(" ")), tableCell(age(now - relay.published)));
      return row;
    }),
  );
}

function showConsensus(document: ConsensusDocument, config: PageConfig): void {
  consensus = document;
  const count = document.relays.length;
  consensusNote.textContent = `Signed by ${signers.length} of the ${config.authorities.length} pinned directory authorities (more than half needed): ${count} relay${count === 1 ? "" : "s"}, published ${age(Date.now() - document.published)}.`;
  consensusNote.className = "ok";
  renderRelays(document);
  fetchButton.disabled = busy;
}

function showConsensusRejected(error: unknown): void {
  consensus = null;
  renderRelays(null);
  consensusNote.textContent = `Consensus rejected: ${describe(error)}`;
  consensusNote.className = "bad";
  fetchButton.disabled = true;
}

/**
 * The page's onion proxy, the same as the gateway's and the CLI's: the consensus verified against
 * the pinned key, circuits built in this tab and reused for the gateway's window, and a failed
 * attempt sent again on a new circuit around the relay that failed.
 */
function onionProxy(): Promise<{ proxy: OnionProxy; config: PageConfig }> {
  proxyReady ??= pageConfig().then((config) => {
    const proxy = new OnionProxy({
      // The relays' public cell endpoints answer CORS, so this tab is a client like any other.
      transport: fetchTransport({ fetch: (url, init) => fetch(url, init) }),
      consensus: async () => {
        const fetched = await consensusFromAuthorities({
          authorities: config.authorities,
          now: Date.now,
          get: (authority) => getJson(`${authority.url}/consensus`, `The directory authority at ${authority.url}`),
        });
        signers = fetched.signers;
        return fetched.document;
      },
      guards: localGuards(config),
      familyRule: config.familyRule,
      clock: Date.now,
      timer: () => performance.now(),
      reuseMs: config.circuitReuseMs,
      events: {
        consensus: (document) => showConsensus(document, config),
        path: () => {
          hopsList.replaceChildren();
          circuitNote.textContent = "Building a circuit…";
        },
        hop: (hop, index) => hopsList.append(hopItem(hop, index)),
        retry: (error) => void (circuitNote.textContent = `That circuit failed (${describe(error)}); building a new one around it…`),
      },
    });
    return { proxy, config };
  });
  proxyReady.catch(() => (proxyReady = null));
  return proxyReady;
}

/** Fetches and verifies the consensus; a consensus that fails verification is never used. */
async function loadConsensus(): Promise<void> {
  try {
    const { proxy, config } = await onionProxy();
    showConsensus(await proxy.consensus(), config);
  } catch (error) {
    showConsensusRejected(error);
  }
}

function hopItem(hop: CircuitHop, index: number): HTMLLIElement {
  const item = document.createElement("li");
  item.dataset.relayId = hop.relay.id;
  const parts: [string, string, string?][] = [
    ["role", ROLES[index] ?? `hop ${index + 1}`],
    ["id", shortId(hop.relay.id), hop.relay.id],
    ["address", hop.relay.address, hop.relay.address],
    ["flags", ((hop.relay as Partial<ListedRelay>).flags ?? []).join(" ")],
    ["time", `handshake ${millis(hop.handshakeMs)}`],
  ];
  for (const [name, text, title] of parts) {
    const span = document.createElement(name === "id" ? "code" : "span");
    span.className = name;
    span.textContent = text;
    if (title) span.title = title;
    item.append(span);
  }
  return item;
}

function describe(error: unknown): string {
  if (error instanceof PageError || error instanceof LinkError || error instanceof ConsensusUnavailableError) return error.message;
  if (isProtocolError(error)) return `${error.message} (${error.code})`;
  return `Unexpected failure: ${error instanceof Error ? error.message : String(error)}`;
}

function showResult(result: ExitResult, ms: number, reused: boolean): void {
  const how = `${millis(ms)} through ${reused ? "the same" : "a new"} circuit`;
  if (!result.ok) {
    statusLine.textContent = `${result.error.status} ${result.error.error} · ${how}`;
    showError(`The exit could not complete the request: ${result.error.message}`);
    return;
  }
  const { status, statusText, headers, body } = result.response;
  statusLine.textContent = `${status} ${statusText} · ${body.length} bytes · ${how}`;
  headersBox.textContent = headers.map(([name, value]) => `${name}: ${value}`).join("\n");
  const shown = new TextDecoder().decode(body.subarray(0, MAX_SHOWN_BYTES));
  bodyBox.textContent = body.length > MAX_SHOWN_BYTES ? `${shown}\n… (first ${MAX_SHOWN_BYTES} of ${body.length} bytes shown)` : shown;
}

async function submit(): Promise<void> {
  if (busy) return;
  showError(null);
  const url = urlInput.value.trim();
  const method = methodSelect.value;
  if (!isHttpUrl(url)) return showError("Enter an absolute http:// or https:// URL, such as https://example.com/.");
  if (!(EXIT_METHODS as readonly string[]).includes(method)) return showError(`The method ${method} is not supported.`);
  const body = BODY_METHODS.has(method) ? utf8(bodyInput.value) : new Uint8Array(0);
  const message: HttpRequestMessage = { method: method as ExitMethod, url, headers: body.length ? [["content-type", "text/plain;charset=utf-8"]] : [], body };

  busy = true;
  fetchButton.disabled = true;
  statusLine.textContent = "Sending…";
  headersBox.textContent = "";
  bodyBox.textContent = "";
  try {
    const { proxy, config } = await onionProxy();
    const sent = await proxy.request(message, { fresh: newCircuitBox.checked });
    circuitPath = sent.path;
    if (!sent.reused) {
      const seconds = Math.round(config.circuitReuseMs / 100) / 10;
      circuitNote.textContent = `Circuit built in ${millis(sent.buildMs ?? 0)}. It is reused for ${seconds} s, then replaced (or tick "new circuit").`;
    }
    if (consensus) renderRelays(consensus);
    showResult(sent.result, sent.requestMs, sent.reused);
  } catch (error) {
    statusLine.textContent = "Failed.";
    circuitNote.textContent = "No circuit could carry the request.";
    showError(describe(error));
  } finally {
    busy = false;
    fetchButton.disabled = consensus === null;
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  void submit();
});
const syncBody = () => (bodyInput.disabled = !BODY_METHODS.has(methodSelect.value));
methodSelect.addEventListener("change", syncBody);
syncBody();

const refresh = () => loadConsensus().catch(() => {});
void refresh();
setInterval(refresh, CONSENSUS_REFRESH_MS);
