#!/usr/bin/env bash
# Creates ./.venv with the local tooling (moto server, cargo-lambda, cfn-lint, actionlint, jsonschema) from PyPI,
# and brings it up to date whenever scripts/requirements.txt changes. Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

wanted=$(sha256sum scripts/requirements.txt | cut -d' ' -f1)
if [[ -x .venv/bin/python && "$(cat .venv/.requirements.sha256 2>/dev/null)" == "$wanted" ]]; then
  exit 0
fi

echo "bootstrap-venv: installing local tooling into .venv (scripts/requirements.txt)..." >&2
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements.txt
echo "$wanted" > .venv/.requirements.sha256
