// Nothing a circuit carries is written to disk or to a log. A unique marker goes through the mesh in
// every place a request can carry it (URL path and query, a header, the user-agent, the body, a
// password), by the gateway, the `onion` CLI and the gateway's /auth routes, on paths that succeed
// and paths that fail; then it is looked for, byte for byte, in every file the runtime may write.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { networkArgs } from "./network.ts";
import { type Origin, freePort, startOrigin } from "./origin.ts";

const mesh = inject("mesh");
const ROOT = resolve(import.meta.dirname, "../..");
const MARKER = `mk${randomBytes(12).toString("hex")}`;

/** Every place wrangler, miniflare and workerd write: state, bundles, logs, registries, temp files. */
function placesTheRuntimeWrites(): string[] {
  const underRoot = ["workers", "packages"].flatMap((group) => readdirSync(join(ROOT, group)).map((name) => join(ROOT, group, name, ".wrangler")));
  const config = process.env.XDG_CONFIG_HOME ?? join(homedir(), ".config");
  const temp = readdirSync(tmpdir())
    .filter((name) => /wrangler|miniflare|workerd|^\.mf/i.test(name))
    .map((name) => join(tmpdir(), name));
  return [mesh.stateDir, join(ROOT, ".wrangler"), ...underRoot, join(ROOT, "node_modules", ".mf"), join(homedir(), ".wrangler"), join(config, ".wrangler"), ...temp].filter((path) => existsSync(path));
}

/** Files (SQLite databases and their WAL included, read as bytes) that hold the marker. */
function filesHolding(marker: string, roots: string[]): string[] {
  const needles = [Buffer.from(marker, "utf8"), Buffer.from(marker, "utf16le")];
  const found: string[] = [];
  const walk = (path: string) => {
    try {
      const stat = lstatSync(path);
      if (stat.isDirectory()) readdirSync(path).forEach((name) => walk(join(path, name)));
      else if (stat.isFile() && needles.some((needle) => readFileSync(path).includes(needle))) found.push(path);
    } catch {
      // removed while we looked (a temp file of a running worker)
    }
  };
  roots.forEach(walk);
  return found;
}

/** The arguments of every `console.*` call in the workers' and packages' sources, with where it is. */
function consoleCalls(): { at: string; args: string[] }[] {
  const calls: { at: string; args: string[] }[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (name === "node_modules" || name === "public" || name === "dist" || name.startsWith(".")) continue;
      if (lstatSync(path).isDirectory()) walk(path);
      else if (/\.(ts|mjs|js)$/.test(name) && !/\.test\.ts$/.test(name)) {
        const source = readFileSync(path, "utf8");
        for (const match of source.matchAll(/\bconsole\s*\.\s*\w+\s*\(/g)) {
          const args = splitArguments(source, match.index + match[0].length);
          calls.push({ at: `${path.slice(ROOT.length + 1)}:${source.slice(0, match.index).split("\n").length}`, args });
        }
      }
    }
  };
  ["workers", "packages"].forEach((group) => walk(join(ROOT, group)));
  return calls;
}

/** The top-level arguments of a call whose "(" ends just before `start` (strings and nesting respected). */
function splitArguments(source: string, start: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let current = "";
  for (let i = start; i < source.length; i++) {
    const c = source[i]!;
    if (quote) {
      current += c;
      if (c === "\\") current += source[++i];
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'" || c === "`") quote = c;
    else if ("([{".includes(c)) depth++;
    else if (")]}".includes(c)) {
      if (depth === 0) break;
      depth--;
    } else if (c === "," && depth === 0) {
      args.push(current.trim());
      current = "";
      continue;
    }
    current += c;
  }
  if (current.trim()) args.push(current.trim());
  return args;
}

/** What a log line may carry: fixed words, and an error's class (never its message). */
const SAFE_ARGUMENT = [/^"[^"\\]*"$/, /^'[^'\\]*'$/, /^`[^`$\\]*`$/, /^logLabel\(\w+\)$/, /^(\w+) instanceof Error \? \1\.name : typeof \1$/];

function onion(args: string[]): Promise<number | null> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "packages/client/bin/onion.mjs"), ...args], { cwd: ROOT, stdio: ["ignore", "ignore", "ignore"] });
    child.once("error", reject);
    child.once("close", resolvePromise);
  });
}

let origin: Origin;
beforeAll(async () => {
  origin = await startOrigin();
  origin.answer = { status: 200, headers: { "content-type": "text/plain", "x-answer": MARKER }, body: Buffer.from(`answer ${MARKER}`) };
});
afterAll(async () => {
  await origin?.close();
});

describe("nothing a circuit carries is written to disk or logged", () => {
  it("finds a marker sent through the gateway, the CLI and /auth nowhere the runtime writes", async () => {
    const carried = { "x-marker": MARKER, "user-agent": `agent-${MARKER}`, "content-type": "text/plain" };
    const destination = `${origin.url}/path-${MARKER}?query=${MARKER}`;
    const gateway = (url: string, init: RequestInit = {}) => fetch(`${mesh.urls.relay}/fetch?url=${encodeURIComponent(url)}`, init);

    // The gateway: a POST and a GET that reach the origin, and requests that fail at the exit or before.
    const post = await gateway(destination, { method: "POST", headers: carried, body: `body ${MARKER}` });
    expect(post.status).toBe(200);
    expect(await post.text()).toBe(`answer ${MARKER}`);
    expect((await gateway(destination, { headers: carried })).status).toBe(200);
    const closed = await freePort();
    expect((await gateway(`http://127.0.0.1:${closed}/path-${MARKER}?query=${MARKER}`, { method: "POST", headers: carried, body: `body ${MARKER}` })).status).toBeGreaterThanOrEqual(400);
    expect((await gateway(`not a url ${MARKER}`, { headers: carried })).status).toBe(400);

    // The CLI's own circuits, to the same origin and to a closed port.
    const network = networkArgs(mesh);
    const headers = ["-H", `X-Marker: ${MARKER}`, "-H", `User-Agent: agent-${MARKER}`];
    expect(await onion(["fetch", ...network, ...headers, "-d", `body ${MARKER}`, destination])).toBe(0);
    expect(await onion(["fetch", ...network, ...headers, `http://127.0.0.1:${closed}/path-${MARKER}`])).not.toBe(0);
    // A stream: the exit is given a host name (here one that names the marker and resolves nowhere) and connects.
    expect(await onion(["fetch", ...network, ...headers, `https://${MARKER}.invalid:${closed}/path-${MARKER}`])).not.toBe(0);

    // The gateway's auth routes: the password (never stored in clear) and the headers carry it.
    const username = `user-${randomBytes(6).toString("hex")}`;
    const auth = (path: string, body: string) => fetch(`${mesh.urls.relay}${path}`, { method: "POST", headers: { ...carried, "content-type": "application/json" }, body });
    expect((await auth("/auth/register", JSON.stringify({ username, password: `password ${MARKER}` }))).status).toBe(201);
    expect((await auth("/auth/login", JSON.stringify({ username, password: `password ${MARKER}` }))).status).toBe(200);
    expect((await auth("/auth/login", JSON.stringify({ username, password: `wrong ${MARKER}` }))).status).toBe(401);
    expect((await auth("/auth/login", `{"broken ${MARKER}`)).status).toBe(400);

    // The origin did get everything: the marker did travel, so its absence below means something.
    expect(origin.received.filter((request) => request.url === `/path-${MARKER}?query=${MARKER}`)).toHaveLength(3);
    expect(origin.received.some((request) => request.body.toString() === `body ${MARKER}`)).toBe(true);

    // Writers batch: give them time to flush, as they would have on a real disk long before.
    await new Promise((r) => setTimeout(r, 2_000));
    // The workers' own output (kept by the global setup): no URL, header, body or password in it.
    const workerLog = readFileSync(mesh.workerLog, "utf8");
    expect(workerLog).toContain("[relay]");
    expect(workerLog.split("\n").filter((line) => line.includes(MARKER))).toEqual([]);
    const places = placesTheRuntimeWrites();
    expect(places).toContain(mesh.stateDir);
    expect(filesHolding(MARKER, places).filter((file) => file !== mesh.workerLog)).toEqual([]);
  });

  it("logs fixed words and an error's class only: every console call in workers/ and packages/", () => {
    const calls = consoleCalls();
    expect(calls.length).toBeGreaterThan(0);
    const unsafe = calls.filter((call) => !call.args.every((arg) => SAFE_ARGUMENT.some((safe) => safe.test(arg))));
    expect(unsafe.map((call) => `${call.at}: console(${call.args.join(", ")})`)).toEqual([]);
  });

  it("serves no local explorer of the workers' storage (live circuit keys) on any port", async () => {
    for (const url of [mesh.urls.relay, mesh.urls.second, mesh.urls.auth, ...mesh.urls.directories]) expect((await fetch(`${url}/cdn-cgi/local/explorer`)).status).toBe(404);
  });

  it("does find what the runtime does write: a username in the auth server's D1 database", async () => {
    // Usernames are stored by design; one with a marker of its own shows the search reads SQLite bytes.
    const probe = `mk${randomBytes(12).toString("hex")}`;
    expect(filesHolding(probe, placesTheRuntimeWrites())).toEqual([]);
    const response = await fetch(`${mesh.urls.relay}/auth/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: `user-${probe}`, password: "a password for the probe" }) });
    expect(response.status).toBe(201);
    await expect.poll(() => filesHolding(probe, [mesh.stateDir]).length, { timeout: 5_000 }).toBeGreaterThan(0);
  });
});
