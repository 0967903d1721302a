// Builds the relay worker's browser page (workers/relay/page) into workers/relay/public, which
// wrangler serves as static assets. wrangler runs it (wrangler.toml [build]) before dev and deploy.

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const PAGE = join(ROOT, "workers", "relay", "page");
const OUT = join(ROOT, "workers", "relay", "public");

const bundle = await build({
  entryPoints: [join(PAGE, "app.ts")],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  write: false,
  legalComments: "none",
  logLevel: "warning",
});

const files = {
  "app.js": bundle.outputFiles[0].contents,
  "index.html": readFileSync(join(PAGE, "index.html")),
  "style.css": readFileSync(join(PAGE, "style.css")),
  _headers: readFileSync(join(PAGE, "_headers")),
};

mkdirSync(OUT, { recursive: true });
for (const [name, contents] of Object.entries(files)) {
  const target = join(OUT, name);
  // Two dev workers (the relay and [env.second]) build at once and watch these files: write only
  // what changed, and atomically, so neither reads half a file nor reloads for nothing.
  if (existsSync(target) && Buffer.compare(readFileSync(target), Buffer.from(contents)) === 0) continue;
  const temporary = `${target}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, target);
}
