#!/usr/bin/env bash
# The demo app's bundle (web/dist/app.js, not committed): Node 18 or later (Debian's nodejs and npm installed
# when missing and this runs as root, as scripts/test-ts.sh does), `npm ci` in clients/typescript when its
# lockfile changed since the last one, the client's build (dist/), then web/build.mjs (esbuild). Run by
# scripts/dev.sh, so by `make dev` and `make e2e`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/shared.sh
need_node build-web

cd clients/typescript
stamp=node_modules/.entitle-lock.sha256
wanted=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
  echo "build-web: npm ci in clients/typescript..." >&2
  npm ci --ignore-scripts --no-audit --no-fund --prefer-offline >&2
  echo "$wanted" > "$stamp"
fi
npm run --silent build >&2
cd ../..
node web/build.mjs
