#!/usr/bin/env node
// node --test over test/*.test.mjs (listed here: a directory argument would also run the helpers, and Node 18 has no
// globs), against dist/ (run `npm run build` first). SAMPLES_DIR: the recorded responses (test/recorded.test.mjs).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url)));
if (!existsSync(join(here, "dist/index.js"))) {
  console.error("dist/ is missing: run `npm run build` first");
  process.exit(2);
}
const files = readdirSync(join(here, "test"))
  .filter((f) => f.endsWith(".test.mjs"))
  .sort()
  .map((f) => join("test", f));
const run = spawnSync(process.execPath, ["--test", "--test-reporter=spec", ...process.argv.slice(2), ...files], { cwd: here, stdio: "inherit" });
process.exit(run.status ?? 1);
