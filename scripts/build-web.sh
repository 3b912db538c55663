#!/usr/bin/env bash
# The demo app's bundle (web/dist/app.js, not committed): Node 18 or later (Debian's nodejs and npm installed
# when missing and this runs as root, as scripts/test-ts.sh does), `npm ci` in clients/typescript when its
# lockfile changed since the last one, the client's build (dist/), then web/build.mjs (esbuild). Run by
# scripts/dev.sh, so by `make dev` and `make e2e`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

node_ok() {
  command -v node >/dev/null && command -v npm >/dev/null &&
    node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'
}
if ! node_ok; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "build-web: installing Node from Debian's packages (apt-get install nodejs npm)..." >&2
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm
  fi
  if ! node_ok; then
    echo "build-web: FAILED — the demo app is built with Node 18 or later and npm (found: $(node --version 2>/dev/null || echo none))." >&2
    echo "  Debian/Ubuntu: sudo apt-get install nodejs npm" >&2
    exit 1
  fi
fi

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
