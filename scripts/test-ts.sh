#!/usr/bin/env bash
# `make test-ts`: the TypeScript client and React components (clients/typescript). Node 18 or later: when it (or
# npm) is missing, Debian's `nodejs` and `npm` packages are installed if this runs as root, else it stops and
# says what to install. Then, in clients/typescript: `npm ci` (the committed lockfile), the generated types
# against docs/openapi.yaml (check-types), `tsc --noEmit`, the build (esbuild + .d.ts), `node --test` (the
# clients against test/fixtures and against the responses `make test-rust` recorded in SAMPLES_DIR — default
# .local/samples, required when CI=true — and the components rendered), and the README's example compiled
# against `npm pack`'s package.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/shared.sh
need_node test-ts
echo "test-ts: node $(node --version), npm $(npm --version)"

export SAMPLES_DIR="${SAMPLES_DIR:-$PWD/.local/samples}"
cd clients/typescript
# --ignore-scripts: nothing here needs an install script (esbuild finds its binary in its platform package).
npm ci --ignore-scripts --no-audit --no-fund --prefer-offline
npm run --silent check-types
npm run --silent typecheck
npm run --silent build
npm test
npm run --silent check-example
