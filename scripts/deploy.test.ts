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
  const run = (options: { dryRun?: boolean; second?: boolean; extra?: Record<string, string> } = {}) =>
    deploy({ root, env: env(options.extra), dryRun: options.dryRun, second: options.second, log: (line: string) => lines.push(line), showWrangler: false });
  const calls = () => readFileSync(logPath, "utf8").trim().split("\n").map((line) => JSON.parse(line) as { args: string[]; ci?: string; secrets?: Record<string, string> });
  const secret = (name: string) => readFileSync(join(root, ".wrangler/shallot-secrets", name), "utf8").trim();
  const option = (args: string[], name: string) => args.filter((_, i) => args[i - 1] === name);

  it("from an empty account: creates the database, writes its id, migrates, then deploys each Worker with its secrets", async () => {
    const urls = await run();
    const account = JSON.parse(readFileSync(statePath, "utf8"));
    expect(account.databases).toHaveLength(1);
    const id = account.databases[0].uuid;

    const made = calls();
    expect(made.map((call) => call.args.slice(0, 2).join(" "))).toEqual(["whoami --json", "d1 list", "d1 create", "d1 list", "d1 migrations", "deploy -c", "deploy -c", "deploy -c"]);
    expect(made[2]!.args[2]).toBe("shallot-auth");
    expect(made[4]!.args).toEqual(["d1", "migrations", "apply", "DB", "--remote", "-c", "workers/auth/wrangler.toml"]);
    expect(made[4]!.ci).toBe("true");
    // Where wrangler reads it, and nothing else in the file changed.
    expect(findD1(readFileSync(join(root, "workers/auth/wrangler.toml"), "utf8"), "DB").fields.database_id.value).toBe(id);

    const [directory, auth, relay] = made.slice(5);
    expect(option(directory!.args, "-c")).toEqual(["workers/directory/wrangler.toml"]);
    expect(directory!.secrets).toEqual({ DIRECTORY_SIGNING_KEY: secret("DIRECTORY_SIGNING_KEY") });
    expect(auth!.secrets).toEqual({ AUTH_HPKE_KEY: secret("AUTH_HPKE_KEY") });
    expect(relay!.secrets).toEqual({ ADMIN_TOKEN: secret("ADMIN_TOKEN") });
    expect(option(relay!.args, "--env")).toEqual([""]);
    expect(option(relay!.args, "--var").sort()).toEqual(
      [
        "PUBLIC_URL:https://shallot-relay.acme.workers.dev",
        `DIRECTORY_PUBLIC_KEY:${secret("DIRECTORY_PUBLIC_KEY")}`,
        "DIRECTORY_PUBLIC_URL:https://shallot-directory.acme.workers.dev",
        "AUTH_URL:https://shallot-auth.acme.workers.dev",
        `AUTH_PUBLIC_KEY:${secret("AUTH_PUBLIC_KEY")}`,
      ].sort(),
    );
    expect(urls).toEqual({ directory: "https://shallot-directory.acme.workers.dev", auth: "https://shallot-auth.acme.workers.dev", relay: "https://shallot-relay.acme.workers.dev" });
    expect(JSON.parse(readFileSync(join(root, ".wrangler/shallot-deploy.json"), "utf8"))).toEqual({ ...urls, databaseId: id });

    // The secrets travelled in a file that is gone now, never on a command line or in what was printed.
    expect(readdirSync(join(root, ".wrangler/shallot-deploy")).filter((name) => name.includes("secret"))).toEqual([]);
    for (const name of ["DIRECTORY_SIGNING_KEY", "AUTH_HPKE_KEY", "ADMIN_TOKEN"]) {
      expect(made.flatMap((call) => call.args).join(" ")).not.toContain(secret(name));
      expect(lines.join("\n")).not.toContain(secret(name));
    }
    // Each step is announced.
    expect(lines.filter((line) => line.startsWith("\n▶")).map((line) => line.replace(/^\n▶ \d+\. /, ""))).toEqual([
      "Cloudflare account",
      "secrets (.wrangler/shallot-secrets/, readable by you only)",
      'D1 database "shallot-auth"',
      "auth database migrations",
      "directory",
      "auth server",
      "relay worker",
    ]);
  });

  it("run again: creates nothing, leaves the config alone, keeps the secrets, deploys again", async () => {
    await run();
    const config = readFileSync(join(root, "workers/auth/wrangler.toml"), "utf8");
    const token = secret("ADMIN_TOKEN");
    writeFileSync(logPath, "");
    await run();
    expect(calls().map((call) => call.args.slice(0, 2).join(" "))).toEqual(["whoami --json", "d1 list", "d1 migrations", "deploy -c", "deploy -c", "deploy -c"]);
    expect(JSON.parse(readFileSync(statePath, "utf8")).databases).toHaveLength(1);
    expect(readFileSync(join(root, "workers/auth/wrangler.toml"), "utf8")).toBe(config);
    expect(secret("ADMIN_TOKEN")).toBe(token);
  });

  it("uses a database that already exists, and URLs the environment names", async () => {
    writeFileSync(statePath, JSON.stringify({ loggedIn: true, databases: [{ uuid: ID, name: "shallot-auth" }], subdomain: "acme" }));
    const urls = await run({ extra: { SHALLOT_RELAY_URL: "https://relay.example.org/", SHALLOT_AUTH_URL: "https://auth.example.org" } });
    expect(calls().some((call) => call.args[1] === "create")).toBe(false);
    expect(readFileSync(join(root, "workers/auth/wrangler.toml"), "utf8")).toContain(`database_id = "${ID}"`);
    expect(urls.relay).toBe("https://relay.example.org");
    expect(option(calls().at(-1)!.args, "--var")).toContain("AUTH_URL:https://auth.example.org");
  });

  it("deploys the second relay deployment with --second", async () => {
    await run({ second: true });
    const last = calls().at(-1)!;
    expect(option(last.args, "--env")).toEqual(["second"]);
    expect(option(last.args, "--var")).toContain("PUBLIC_URL:https://shallot-relay-second.acme.workers.dev");
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
    expect(calls().map((call) => [option(call.args, "-c")[0], option(call.args, "--outdir")[0], call.args.includes("--dry-run")])).toEqual([
      ["workers/directory/wrangler.toml", join(root, "dist/directory"), true],
      ["workers/auth/wrangler.toml", join(root, "dist/auth"), true],
      ["wrangler.toml", join(root, "dist/relay"), true],
      ["wrangler.toml", join(root, "dist/relay-second"), true],
    ]);
    expect(readdirSync(join(root, "dist")).sort()).toEqual(["auth", "directory", "relay", "relay-second"]);
  });
});
