#!/usr/bin/env bash
# Adds the AWS SAM CLI (scripts/requirements-deploy.txt) to ./.venv for `make package`, `make validate` and
# `make deploy`. Installed with scripts/requirements.txt in one pip run, so the pins `make test` relies on hold.
# Idempotent and quick when nothing changed; `make test` never runs it (the SAM CLI is ~150 MB of dependencies).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/bootstrap-venv.sh
wanted=$(cat scripts/requirements.txt scripts/requirements-deploy.txt | sha256sum | cut -d' ' -f1)
if [[ -x .venv/bin/sam && "$(cat .venv/.requirements-deploy.sha256 2>/dev/null)" == "$wanted" ]]; then
  exit 0
fi

echo "bootstrap-deploy-tools: installing the AWS SAM CLI into .venv (scripts/requirements-deploy.txt)..." >&2
.venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements.txt -r scripts/requirements-deploy.txt
echo "$wanted" > .venv/.requirements-deploy.sha256
