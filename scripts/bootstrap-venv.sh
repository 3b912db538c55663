#!/usr/bin/env bash
# Creates ./.venv with the local tooling (moto server, cargo-lambda, cfn-lint). Idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -x .venv/bin/moto_server && -x .venv/bin/cargo-lambda && -x .venv/bin/cfn-lint ]]; then
  exit 0
fi

echo "bootstrap-venv: installing local tooling into .venv (scripts/requirements.txt)..." >&2
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements.txt
