#!/usr/bin/env bash
# `make package`: `sam build` of every function with the SAM CLI and cargo-lambda from .venv and the toolchain
# pinned in rust-toolchain.toml, then a check of each function's artifact (scripts/check_artifacts.py).
#   SAM_CONFIG_ENV=prod   build with samconfig.toml's prod (or staging) settings (default: default)
#   MAX_BOOTSTRAP_MB=16   the largest bootstrap binary accepted (measured: 8.1–9.4 MiB)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/bootstrap-deploy-tools.sh
export PATH="$PWD/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0
started=$SECONDS

# sam runs one `cargo lambda build` per function, in parallel. Without RUSTUP_TOOLCHAIN they may not use the
# pinned toolchain, and each one that finds the arm64 target missing races the others to add it ("Failed to
# install target component"): install both once, here, and name the toolchain explicitly.
toolchain=$(sed -n 's/^channel *= *"\([^"]*\)".*/\1/p' rust-toolchain.toml)
if [[ -z "$toolchain" ]]; then
  echo "package: no channel in rust-toolchain.toml" >&2
  exit 1
fi
export RUSTUP_TOOLCHAIN=$toolchain
# Only when missing: `rustup toolchain install` of an installed toolchain re-syncs it, replacing its binaries under
# any cargo running at the time.
if ! rustup toolchain list | grep -q "^$toolchain-"; then
  rustup toolchain install "$toolchain" --profile minimal --no-self-update
fi
if ! rustup target list --installed --toolchain "$toolchain" | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add --toolchain "$toolchain" aarch64-unknown-linux-gnu
fi
echo "package: toolchain $toolchain ($(rustc --version)), target aarch64-unknown-linux-gnu; $(sam --version)"

sam build --config-env "${SAM_CONFIG_ENV:-default}"
echo "package: sam build took $((SECONDS - started)) s"
.venv/bin/python scripts/check_artifacts.py --max-mb "${MAX_BOOTSTRAP_MB:-16}"
