#!/usr/bin/env node
// dist/: each module of src/ as ESM (esbuild, no bundling: the entry points share one copy of the errors, so
// `instanceof` holds across them; react stays the app's), then the .d.ts files (tsc --emitDeclarationOnly).
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const src = join(here, "src");
const dist = join(here, "dist");

const sources = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.tsx?$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [path] : [];
  });

rmSync(dist, { recursive: true, force: true });
await build({
  entryPoints: sources(src),
  outdir: dist,
  outbase: src,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  jsx: "automatic",
  bundle: false,
  sourcemap: false,
  logLevel: "warning",
});
const tsc = spawnSync(process.execPath, [join(here, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], {
  cwd: here,
  stdio: "inherit",
});
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
console.log("build: dist/ (ESM + .d.ts)");
