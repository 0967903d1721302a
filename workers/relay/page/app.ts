// The browser page at /: verifies the consensus against the pinned directory key, builds a circuit
// with WebCrypto in this tab and sends requests through it. Data from the network is written with
// textContent only, never as HTML.

// Module by module rather than the package index, which would also bundle the auth code (HPKE).
import { fromBase64Url, utf8 } from "../../../packages/protocol/src/bytes.ts";
import { mayRetryOnFreshCircuit } from "../../../packages/protocol/src/circuit-pool.ts";
import { type CellTransport, Circuit, type CircuitHop, type ExitResult } from "../../../packages/protocol/src/client.ts";
import { type ConsensusDocument, verifyConsensus } from "../../../packages/protocol/src/consensus.ts";
import { isHttpUrl } from "../../../packages/protocol/src/descriptor.ts";
import { isProtocolError } from "../../../packages/protocol/src/errors.ts";
import { EXIT_METHODS, type ExitMethod, type HttpRequestMessage } from "../../../packages/protocol/src/http-message.ts";
import { selectPath } from "../../../packages/protocol/src/path.ts";

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
  directoryUrl: string;
  directoryKey: string;
}

let config: PageConfig | null = null;
let consensus: ConsensusDocument | null = null;
let circuit: Circuit | null = null;
let busy = false;

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
  const { directoryUrl, directoryKey } = (body ?? {}) as Partial<PageConfig>;
  if (typeof directoryUrl !== "string" || typeof directoryKey !== "string") throw new PageError("The page configuration is malformed.");
  return { directoryUrl, directoryKey };
}

function renderRelays(listed: ConsensusDocument | null): void {
  const now = Date.now();
  relaysBody.replaceChildren(
    ...(listed?.relays ?? []).map((relay) => {
      const row = document.createElement("tr");
      row.dataset.relayId = relay.id;
      if (circuit?.hops.some((hop) => hop.relay.id === relay.id)) row.className = "in-circuit";
      row.append(tableCell(shortId(relay.id), { code: true, title: relay.id }), tableCell(relay.address, { title: relay.address }), tableCell(age(now - relay.published)));
      return row;
    }),
  );
}

/** Fetches and verifies the consensus; a consensus that fails verification is never kept. */
async function loadConsensus(): Promise<ConsensusDocument> {
  try {
    config ??= await pageConfig();
    let key: Uint8Array<ArrayBuffer>;
    try {
      key = fromBase64Url(config.directoryKey);
    } catch {
      throw new PageError("The configured directory key is not base64url.");
    }
    const signed = await getJson(`${config.directoryUrl}/consensus`, "The directory");
    consensus = await verifyConsensus(signed, key, Date.now());
  } catch (error) {
    consensus = null;
    renderRelays(null);
    consensusNote.textContent = `Consensus rejected: ${describe(error)}`;
    consensusNote.className = "bad";
    fetchButton.disabled = true;
    throw error;
  }
  const count = consensus.relays.length;
  consensusNote.textContent = `Signature verified against the directory key ${config.directoryKey.slice(0, 10)}…: ${count} live relay${count === 1 ? "" : "s"}, published ${age(Date.now() - consensus.published)}.`;
  consensusNote.className = "ok";
  renderRelays(consensus);
  fetchButton.disabled = busy;
  return consensus;
}

/** Sends cells to a relay's public cell endpoint, as the gateway does for its own clients. */
const transport: CellTransport = {
  async send(address, cell) {
    let response: Response;
    try {
      response = await fetch(`${address}/cell`, { method: "POST", body: cell, headers: { "content-type": "application/octet-stream" } });
    } catch {
      throw new PageError(`Could not reach the relay at ${address}.`);
    }
    if (!response.ok) {
      const body: unknown = await response.json().catch(() => null);
      const code = body && typeof body === "object" && "error" in body && typeof body.error === "string" ? body.error : undefined;
      throw new PageError(`The relay at ${address} answered ${response.status}: ${errorMessage(body) ?? response.statusText}`, code);
    }
    return new Uint8Array(await response.arrayBuffer());
  },
};

function hopItem(hop: CircuitHop, index: number): HTMLLIElement {
  const item = document.createElement("li");
  item.dataset.relayId = hop.relay.id;
  const parts: [string, string, string?][] = [
    ["role", ROLES[index] ?? `hop ${index + 1}`],
    ["id", shortId(hop.relay.id), hop.relay.id],
    ["address", hop.relay.address, hop.relay.address],
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

async function newCircuit(): Promise<Circuit> {
  const old = circuit;
  circuit = null;
  // Best effort: the relays also expire idle circuits on their own.
  old?.destroy().catch(() => {});
  hopsList.replaceChildren();
  const path = selectPath((await loadConsensus()).relays);
  circuitNote.textContent = "Building a circuit…";
  const started = performance.now();
  try {
    circuit = await Circuit.build(path, transport, { clock: () => performance.now(), onHop: (hop, index) => hopsList.append(hopItem(hop, index)) });
  } catch (error) {
    circuitNote.textContent = `The circuit failed after ${hopsList.children.length} of ${path.length} hops.`;
    throw error;
  }
  circuitNote.textContent = `Circuit built in ${millis(performance.now() - started)}. It is reused until you ask for a new one.`;
  renderRelays(consensus);
  return circuit;
}

/** A reused circuit may have expired at a relay; then the request never reached the exit. */
const isStaleCircuit = (error: unknown, method: string) =>
  mayRetryOnFreshCircuit(isProtocolError(error) || error instanceof PageError ? error.code : undefined, method);

function describe(error: unknown): string {
  if (error instanceof PageError) return error.message;
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
    let reused = circuit !== null && !circuit.isDestroyed && !newCircuitBox.checked;
    let current = reused ? circuit! : await newCircuit();
    let started = performance.now();
    let result: ExitResult;
    try {
      result = await current.request(message);
    } catch (error) {
      if (!reused || !isStaleCircuit(error, message.method)) throw error;
      reused = false;
      current = await newCircuit();
      started = performance.now();
      result = await current.request(message);
    }
    showResult(result, performance.now() - started, reused);
  } catch (error) {
    statusLine.textContent = "Failed.";
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
