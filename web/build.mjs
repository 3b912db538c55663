#!/usr/bin/env node
// The demo app's bundle: web/src/app.js with Entitle's TypeScript client (clients/typescript, its built dist/:
// the browser entry point `@entitle/client` and the React one `@entitle/client/react`, the files its
// package.json exports) and React, bundled by esbuild into web/dist/app.js. Nothing comes from a CDN: esbuild,
// React and react-dom are the client workspace's own devDependencies, pinned by its package-lock.json.
// scripts/build-web.sh runs it (after `npm ci` and the client's build); `make dev` and `make e2e` through it.
//   node web/build.mjs     fails when the client is not built, or when the bundle lacks the client or React
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = dirname(fileURLToPath(import.meta.url));
const client = join(web, "..", "clients", "typescript");
const require = createRequire(join(client, "package.json"));
const { build } = await import(require.resolve("esbuild"));

const pkg = JSON.parse(readFileSync(join(client, "package.json"), "utf8"));
const entry = (name) => {
  const target = pkg.exports[name]?.default;
  const file = target && join(client, target);
  if (!file || !existsSync(file)) {
    console.error(`web/build.mjs: ${name} (${target}) is not built: run \`npm run build\` in clients/typescript`);
    process.exit(2);
  }
  return file;
};
const packages = { "@entitle/client": entry("."), "@entitle/client/react": entry("./react") };

const result = await build({
  entryPoints: [join(web, "src", "app.js")],
  outfile: join(web, "dist", "app.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  sourcemap: true,
  minify: true,
  // One copy of React (the client's react.js imports it too) from the client workspace.
  nodePaths: [join(client, "node_modules")],
  define: { "process.env.NODE_ENV": '"production"' },
  metafile: true,
  logLevel: "warning",
  plugins: [
    {
      name: "entitle-client",
      setup(b) {
        b.onResolve({ filter: /^@entitle\/client(\/react)?$/ }, (args) => ({ path: packages[args.path] }));
      },
    },
  ],
});
const inputs = Object.keys(result.metafile.inputs);
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + (o.bytes ?? 0), 0);
for (const wanted of ["dist/index.js", "dist/react.js", "react-dom"]) {
  if (!inputs.some((i) => i.includes(wanted))) {
    console.error(`web/build.mjs: the bundle does not contain ${wanted}`);
    process.exit(1);
  }
}
console.log(`web/build.mjs: web/dist/app.js (${Math.round(bytes / 1024)} KiB with its source map) from ${inputs.length} modules`);
