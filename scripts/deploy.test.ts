// `npm run deploy` with no account and no internet: the config rewriting read back by wrangler's own
// parser, and the whole script driven against a stand-in `wrangler` (deploy.test-wrangler.mjs) that
// keeps a pretend account. The real `wrangler deploy --dry-run` runs in CI and in the README test.

import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { experimental_readRawConfig } from "wrangler";
// @ts-expect-error -- plain ESM script (`npm run deploy`)
import { DeployError, deploy, findD1, siblingUrl, withDatabaseId } from "./deploy.mjs";

const ROOT = resolve(import.meta.dirname, "..");
const CONFIGS = ["wrangler.toml", "workers/auth/wrangler.toml", "workers/directory/wrangler.toml"];
const AUTH_TOML = readFileSync(join(ROOT, "workers/auth/wrangler.toml"), "utf8");
const ID = "4f1c2a9e-7b3d-4e8f-9a6b-0c5d2e1f3a7b";

function parsed(toml: string) {
  const dir = mkdtempSync(join(tmpdir(), "shallot-toml-"));
  try {
    writeFileSync(join(dir, "wrangler.toml"), toml);
    return experimental_readRawConfig({ config: join(dir, "wrangler.toml") }).rawConfig;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("the database_id rewrite", () => {
  it("sets the id of the DB binding, and wrangler reads back the same config with that id", () => {
    const rewritten: string = withDatabaseId(AUTH_TOML, "DB", ID);
    const before = parsed(AUTH_TOML);
    const after = parsed(rewritten);
    expect(after.d1_databases).toEqual([{ ...before.d1_databases![0], database_id: ID }]);
    expect({ ...after, d1_databases: undefined }).toEqual({ ...before, d1_databases: undefined });
    // Only that line changed: the comments stay.
    expect(rewritten.split("\n").filter((line, i) => line !== AUTH_TOML.split("\n")[i])).toEqual([`database_id = "${ID}"`]);
    expect(withDatabaseId(rewritten, "DB", ID)).toBe(rewritten);
  });

  it("adds the id after database_name when the entry has none", () => {
    const without = AUTH_TOML.replace(/^database_id = .*\n/m, "");
    expect(findD1(without, "DB").fields.database_id).toBeUndefined();
    expect(parsed(withDatabaseId(without, "DB", ID)).d1_databases![0]!.database_id).toBe(ID);
  });

  it("refuses what is not a D1 id, and a config without the binding", () => {
    expect(() => withDatabaseId(AUTH_TOML, "DB", 'x"\nmain = "evil.js')).toThrow(DeployError);
    expect(() => withDatabaseId(AUTH_TOML, "OTHER", ID)).toThrow(/binding = "OTHER"/);
  });

  it("finds a sibling workers.dev URL, and nothing for another host", () => {
    expect(siblingUrl("https://shallot-directory.acme.workers.dev", "shallot-relay")).toBe("https://shallot-relay.acme.workers.dev");
    expect(siblingUrl("https://directory.example.com", "shallot-relay")).toBeNull();
  });
});

describe("npm run deploy against a stand-in wrangler", () => {
  let root: string;
  let statePath: string;
  let logPath: string;
  let lines: string[];

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "shallot-deploy-"));
    for (const config of CONFIGS) {
      mkdirSync(dirname(join(root, config)), { recursive: true });
      copyFileSync(join(ROOT, config), join(root, config));
    }
    statePath = join(root, "account.json");
    logPath = join(root, "calls.jsonl");
    writeFileSync(statePath, JSON.stringify({ loggedIn: true, databases: [], subdomain: "acme" }));
    chmodSync(join(ROOT, "scripts/deploy.test-wrangler.mjs"), 0o755);
    lines = [];
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const env = (extra: Record<string, string> = {}) => ({
    ...process.env,
    SHALLOT_WRANGLER: join(ROOT, "scripts/deploy.test-wrangler.mjs"),
    FAKE_WRANGLER_STATE: statePath,
    FAKE_WRANGLER_LOG: logPath,
    RELAYS: "0",
    ...extra,
  });
  const run = (options: { dryRun?: boolean; second?: boolean; extra?: Record<string, string>; fetchImpl?: typeof fetch; waitMs?: number } = {}) =>
    deploy({ root, env: env(options.extra), dryRun: options.dryRun, second: options.second, log: (line: string) => lines.push(line), showWrangler: false, fetchImpl: options.fetchImpl, waitMs: options.waitMs, pollMs: 10 });
  const calls = () => readFileSync(logPath, "utf8").trim().split("\n").map((line) => JSON.parse(line) as { args: string[]; ci?: string; secrets?: Record<string, string> });
  const secret = (name: string) => readFileSync(join(root, ".wrangler/shallot-secrets", name), "utf8").trim();
  const option = (args: string[], name: string) => args.filter((_, i) => args[i - 1] === name);

  it("from an empty account: creates the database, writes its id, migrates, then deploys each Worker with its secrets", async () => {
    const urls = await run();
    const account = JSON.parse(readFileSync(statePath, "utf8"));
    expect(account.databases).toHaveLength(1);
    const id = account.databases[0].uuid;

    const made = calls();
    expect(made.map((call) => call.args.slice(0, 2).join(" "))).toEqual(["whoami --json", "d1 list", "d1 create", "d1 list", "d1 migrations", ...Array(5).fill("deploy -c")]);
    expect(made[2]!.args[2]).toBe("shallot-auth");
    expect(made[4]!.args).toEqual(["d1", "migrations", "apply", "DB", "--remote", "-c", "workers/auth/wrangler.toml"]);
    expect(made[4]!.ci).toBe("true");
    // Where wrangler reads it, and nothing else in the file changed.
    expect(findD1(readFileSync(join(root, "workers/auth/wrangler.toml"), "utf8"), "DB").fields.database_id.value).toBe(id);

    const [auth, ...rest] = made.slice(5);
    const authorities = rest.slice(0, 3);
    const relay = rest[3]!;
    expect(auth!.secrets).toEqual({ AUTH_HPKE_KEY: secret("AUTH_HPKE_KEY") });
    // Three authorities: the directory config's top level, [env.second] and [env.third], each with its own key.
    expect(authorities.map((call) => [option(call.args, "-c")[0], option(call.args, "--env")[0]])).toEqual([
      ["workers/directory/wrangler.toml", ""],
      ["workers/directory/wrangler.toml", "second"],
      ["workers/directory/wrangler.toml", "third"],
    ]);
    expect(authorities.map((call) => call.secrets)).toEqual([1, 2, 3].map((n) => ({ DIRECTORY_SIGNING_KEY: secret(`AUTHORITY_${n}_SIGNING_KEY`) })));
    expect(new Set([1, 2, 3].map((n) => secret(`AUTHORITY_${n}_SIGNING_KEY`))).size).toBe(3);
    // Every authority and the relay worker pin the same three, KEY@URL.
    const pinned = `DIRECTORY_AUTHORITIES:${[
      `${secret("AUTHORITY_1_PUBLIC_KEY")}@https://shallot-directory.acme.workers.dev`,
      `${secret("AUTHORITY_2_PUBLIC_KEY")}@https://shallot-directory-second.acme.workers.dev`,
      `${secret("AUTHORITY_3_PUBLIC_KEY")}@https://shallot-directory-third.acme.workers.dev`,
    ].join(",")}`;
    for (const authority of authorities) expect(option(authority.args, "--var")).toEqual([pinned]);
    expect(relay.secrets).toEqual({ ADMIN_TOKEN: secret("ADMIN_TOKEN") });
    expect(option(relay.args, "--env")).toEqual([""]);
    expect(option(relay.args, "--var").sort()).toEqual(
      [
        "PUBLIC_URL:https://shallot-relay.acme.workers.dev",
        pinned,
        "AUTH_URL:https://shallot-auth.acme.workers.dev",
        `AUTH_PUBLIC_KEY:${secret("AUTH_PUBLIC_KEY")}`,
      ].sort(),
    );
    expect(urls).toEqual({
      directories: ["https://shallot-directory.acme.workers.dev", "https://shallot-directory-second.acme.workers.dev", "https://shallot-directory-third.acme.workers.dev"],
      auth: "https://shallot-auth.acme.workers.dev",
      relay: "https://shallot-relay.acme.workers.dev",
    });
    expect(JSON.parse(readFileSync(join(root, ".wrangler/shallot-deploy.json"), "utf8"))).toEqual({ ...urls, databaseId: id });

    // The secrets travelled in a file that is gone now, never on a command line or in what was printed.
    expect(readdirSync(join(root, ".wrangler/shallot-deploy")).filter((name) => name.includes("secret"))).toEqual([]);
    for (const name of ["AUTHORITY_1_SIGNING_KEY", "AUTHORITY_2_SIGNING_KEY", "AUTHORITY_3_SIGNING_KEY", "AUTH_HPKE_KEY", "ADMIN_TOKEN"]) {
      expect(made.flatMap((call) => call.args).join(" ")).not.toContain(secret(name));
      expect(lines.join("\n")).not.toContain(secret(name));
    }
    // Each step is announced.
    expect(lines.filter((line) => line.startsWith("\n▶")).map((line) => line.replace(/^\n▶ \d+\. /, ""))).toEqual([
      "Cloudflare account",
      "secrets (.wrangler/shallot-secrets/, readable by you only)",
      'D1 database "shallot-auth"',
      "auth database migrations",
      "auth server",
      "directory authority 1 (shallot-directory)",
      "directory authority 2 (shallot-directory-second)",
      "directory authority 3 (shallot-directory-third)",
      "relay worker",
    ]);
  });

  it("run again: creates nothing, leaves the config alone, keeps the secrets, deploys again", async () => {
    await run();
    const config = readFileSync(join(root, "workers/auth/wrangler.toml"), "utf8");
    const token = secret("ADMIN_TOKEN");
    const authorityKey = secret("AUTHORITY_2_SIGNING_KEY");
    writeFileSync(logPath, "");
    await run();
    expect(calls().map((call) => call.args.slice(0, 2).join(" "))).toEqual(["whoami --json", "d1 list", "d1 migrations", ...Array(5).fill("deploy -c")]);
    expect(JSON.parse(readFileSync(statePath, "utf8")).databases).toHaveLength(1);
    expect(readFileSync(join(root, "workers/auth/wrangler.toml"), "utf8")).toBe(config);
    expect(secret("ADMIN_TOKEN")).toBe(token);
    expect(secret("AUTHORITY_2_SIGNING_KEY")).toBe(authorityKey);
  });

  it("uses a database that already exists, and URLs the environment names", async () => {
    writeFileSync(statePath, JSON.stringify({ loggedIn: true, databases: [{ uuid: ID, name: "shallot-auth" }], subdomain: "acme" }));
    const directories = ["https://dir-1.example.org", "https://dir-2.example.org", "https://dir-3.example.org"];
    const urls = await run({ extra: { SHALLOT_RELAY_URL: "https://relay.example.org/", SHALLOT_AUTH_URL: "https://auth.example.org", SHALLOT_DIRECTORY_URLS: `${directories.join(", ")}/` } });
    expect(calls().some((call) => call.args[1] === "create")).toBe(false);
    expect(readFileSync(join(root, "workers/auth/wrangler.toml"), "utf8")).toContain(`database_id = "${ID}"`);
    expect(urls.relay).toBe("https://relay.example.org");
    expect(urls.directories).toEqual(directories);
    const relayVars = option(calls().at(-1)!.args, "--var");
    expect(relayVars).toContain("AUTH_URL:https://auth.example.org");
    expect(relayVars).toContain(`DIRECTORY_AUTHORITIES:${directories.map((url, i) => `${secret(`AUTHORITY_${i + 1}_PUBLIC_KEY`)}@${url}`).join(",")}`);
  });

  it("refuses SHALLOT_DIRECTORY_URLS that do not name three authorities, and bad knobs, before anything runs", async () => {
    for (const extra of [
      { SHALLOT_DIRECTORY_URLS: "https://dir-1.example.org,https://dir-2.example.org" },
      { SHALLOT_DIRECTORY_URLS: "https://a.example.org,https://b.example.org,key@https://c.example.org" },
      { MAX_RELAYS_PER_HOST: "0" },
      { FAMILY_RULE: "off" },
      { RELAYS: "-1" },
    ]) {
      await expect(run({ extra })).rejects.toThrow(DeployError);
    }
    expect(existsSync(logPath)).toBe(false);
  });

  it("a test network of one relay deployment: MAX_RELAYS_PER_HOST to every authority, FAMILY_RULE to the relay worker", async () => {
    await run({ extra: { MAX_RELAYS_PER_HOST: "6", FAMILY_RULE: "false" } });
    const deployed = calls().filter((call) => call.args[0] === "deploy");
    for (const authority of deployed.slice(1, 4)) expect(option(authority.args, "--var")).toContain("MAX_RELAYS_PER_HOST:6");
    expect(option(deployed[0]!.args, "--var")).toEqual([]);
    expect(option(deployed[4]!.args, "--var")).toContain("FAMILY_RULE:false");
    expect(option(deployed[4]!.args, "--var").some((v: string) => v.startsWith("MAX_RELAYS_PER_HOST"))).toBe(false);
  });

  /** A stand-in network: POST /relays makes a relay, which an authority lists after `listAfter` consensus fetches. */
  function network({ listAfter = 2, failFirstPosts = 0 } = {}) {
    const relays: { id: string; fetchesLeft: number }[] = [];
    const seen = { posts: 0, consensus: 0 };
    let failures = failFirstPosts;
    const fetchImpl = (async (input: string | URL, init?: RequestInit) => {
      const url = String(input);
      if (url === "https://shallot-relay.acme.workers.dev/relays" && init?.method === "POST") {
        seen.posts++;
        if (init.headers && (init.headers as Record<string, string>).authorization !== `Bearer ${secret("ADMIN_TOKEN")}`) return new Response("{}", { status: 401 });
        if (failures-- > 0) throw new TypeError("fetch failed");
        const id = `${relays.length}`.padStart(64, "a");
        relays.push({ id, fetchesLeft: listAfter });
        return Response.json({ id }, { status: 201 });
      }
      if (url === "https://shallot-directory.acme.workers.dev/consensus") {
        seen.consensus++;
        for (const relay of relays) relay.fetchesLeft--;
        const listed = relays.filter((relay) => relay.fetchesLeft < 0).map((relay) => ({ id: relay.id, address: `https://shallot-relay.acme.workers.dev/relays/${relay.id}` }));
        // A relay of another deployment host does not count.
        listed.push({ id: "f".repeat(64), address: `https://other.example.org/relays/${"f".repeat(64)}` });
        return Response.json({ document: JSON.stringify({ relays: listed }), signatures: [] });
      }
      return new Response("not here", { status: 404 });
    }) as typeof fetch;
    return { fetchImpl, seen, relays };
  }

  it("adds the relays the consensus lacks, at most K of one deployment (2 by default), and waits until they are listed", async () => {
    const net = network();
    await run({ extra: { RELAYS: "6" }, fetchImpl: net.fetchImpl, waitMs: 60_000 });
    expect(net.seen.posts).toBe(2);
    expect(lines.join("\n")).toMatch(/the authorities list at most 2 of one deployment; RELAYS asks 6/);
    expect(lines.join("\n")).toContain("the consensus lists 2");
  }, 60_000);

  it("with MAX_RELAYS_PER_HOST=6, adds 6; run again, adds none", async () => {
    const net = network({ listAfter: 0 });
    await run({ extra: { RELAYS: "6", MAX_RELAYS_PER_HOST: "6" }, fetchImpl: net.fetchImpl, waitMs: 60_000 });
    expect(net.seen.posts).toBe(6);
    await run({ extra: { RELAYS: "6", MAX_RELAYS_PER_HOST: "6" }, fetchImpl: net.fetchImpl, waitMs: 60_000 });
    expect(net.seen.posts).toBe(6);
  }, 60_000);

  it("gives up waiting with a sentence saying the Workers are deployed and how to add relays", async () => {
    const net = network({ listAfter: 1_000 });
    await expect(run({ extra: { RELAYS: "2" }, fetchImpl: net.fetchImpl, waitMs: 100 })).rejects.toThrow(/the consensus lists 0 of the 2 relays[\s\S]*Workers are deployed[\s\S]*\/relays/);
    expect(net.seen.posts).toBe(2);
  }, 60_000);

  it("deploys the second relay deployment with --second", async () => {
    await run({ second: true });
    const last = calls().at(-1)!;
    expect(option(last.args, "--env")).toEqual(["second"]);
    expect(option(last.args, "--var")).toContain("PUBLIC_URL:https://shallot-relay-second.acme.workers.dev");
    expect(option(last.args, "--var").find((v: string) => v.startsWith("DIRECTORY_AUTHORITIES:"))).toBe(option(calls().at(-2)!.args, "--var").find((v: string) => v.startsWith("DIRECTORY_AUTHORITIES:")));
  });

  it("stops before anything when wrangler is not logged in, saying what to run", async () => {
    writeFileSync(statePath, JSON.stringify({ loggedIn: false, databases: [], subdomain: "acme" }));
    await expect(run()).rejects.toThrow(/npx wrangler login/);
    expect(calls().map((call) => call.args[0])).toEqual(["whoami"]);
    expect(existsSync(join(root, ".wrangler/shallot-secrets"))).toBe(false);
  });

  it("stops at the first failing step: no Worker is deployed after failed migrations", async () => {
    writeFileSync(statePath, JSON.stringify({ loggedIn: true, databases: [], subdomain: "acme", failOn: "migrations apply" }));
    await expect(run()).rejects.toThrow(/d1 migrations apply/);
    expect(calls().some((call) => call.args[0] === "deploy")).toBe(false);
  });

  it("npm run build: every Worker bundled into dist/ at the top, nothing deployed, no account needed", async () => {
    writeFileSync(statePath, JSON.stringify({ loggedIn: false, databases: [], subdomain: "acme" }));
    await run({ dryRun: true });
    expect(calls().map((call) => [option(call.args, "-c")[0], option(call.args, "--env")[0], option(call.args, "--outdir")[0], call.args.includes("--dry-run")])).toEqual([
      ["workers/directory/wrangler.toml", "", join(root, "dist/directory-1"), true],
      ["workers/directory/wrangler.toml", "second", join(root, "dist/directory-2"), true],
      ["workers/directory/wrangler.toml", "third", join(root, "dist/directory-3"), true],
      ["workers/auth/wrangler.toml", undefined, join(root, "dist/auth"), true],
      ["wrangler.toml", "", join(root, "dist/relay"), true],
      ["wrangler.toml", "second", join(root, "dist/relay-second"), true],
    ]);
    expect(readdirSync(join(root, "dist")).sort()).toEqual(["auth", "directory-1", "directory-2", "directory-3", "relay", "relay-second"]);
  });
});
