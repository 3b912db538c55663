#!/usr/bin/env node
// test/local/*.test.mjs: the clients against the local functions of a running `make dev` (scripts/e2e.sh runs it
// while its stack is up). ENTITLE_READY (or the first argument) names that stack's .local/dev-ready; dist/ must be
// built.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const ready = process.argv[2] ?? process.env.ENTITLE_READY ?? join(here, "../../.local/dev-ready");
if (!existsSync(ready)) {
  console.error(`test-local: ${ready} is missing: start the local stack first (make dev)`);
  process.exit(2);
}
if (!existsSync(join(here, "dist/index.js"))) {
  console.error("test-local: dist/ is missing: run `npm run build` first");
  process.exit(2);
}
const files = readdirSync(join(here, "test/local"))
  .filter((f) => f.endsWith(".test.mjs"))
  .sort()
  .map((f) => join("test/local", f));
const run = spawnSync(process.execPath, ["--test", "--test-reporter=spec", ...files], {
  cwd: here,
  stdio: "inherit",
  env: { ...process.env, ENTITLE_READY: resolve(ready) },
});
process.exit(run.status ?? 1);
