#!/usr/bin/env node
// src/generated/openapi.ts from docs/openapi.yaml, with the pinned openapi-typescript.
//   node scripts/generate-types.mjs          writes it
//   node scripts/generate-types.mjs --check  writes it to a temporary file and fails, with a diff, when the committed one
//                                            differs (npm run check-types; part of make test-ts)
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const spec = resolve(here, "../../docs/openapi.yaml");
const committed = join(here, "src/generated/openapi.ts");
const cli = join(here, "node_modules/openapi-typescript/bin/cli.js");
// Options are part of the contract: a change here is a change of every generated type.
const OPTIONS = ["--default-non-nullable", "false"];

const check = process.argv.includes("--check");
if (!existsSync(cli)) {
  console.error("openapi-typescript is not installed: run `npm ci` in clients/typescript first");
  process.exit(2);
}
const scratch = check ? mkdtempSync(join(tmpdir(), "entitle-types-")) : null;
const out = check ? join(scratch, "openapi.ts") : committed;
const run = spawnSync(process.execPath, [cli, spec, "-o", out, ...OPTIONS], {
  cwd: here,
  encoding: "utf8",
  env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1" },
});
if (run.status !== 0) {
  console.error(run.stdout, run.stderr);
  console.error(`openapi-typescript failed on ${relative(here, spec)}`);
  process.exit(1);
}
if (!check) {
  console.log(`wrote ${relative(here, committed)} from ${relative(here, spec)}`);
  process.exit(0);
}
let status = 0;
try {
  const fresh = readFileSync(out, "utf8");
  const old = existsSync(committed) ? readFileSync(committed, "utf8") : "";
  if (fresh === old) {
    console.log(`check-types: ${relative(here, committed)} is what docs/openapi.yaml generates`);
  } else {
    const diff = spawnSync("diff", ["-u", committed, out], { encoding: "utf8" });
    console.error(diff.stdout || firstDifference(old, fresh));
    console.error(
      `check-types: ${relative(here, committed)} differs from what docs/openapi.yaml generates; ` +
        "run `npm run generate` in clients/typescript and commit the result",
    );
    status = 1;
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(status);

function firstDifference(a, b) {
  const x = a.split("\n");
  const y = b.split("\n");
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] !== y[i]) return `line ${i + 1}:\n- ${x[i] ?? ""}\n+ ${y[i] ?? ""}`;
  }
  return "";
}
