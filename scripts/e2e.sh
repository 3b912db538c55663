#!/usr/bin/env bash
# `make e2e`: a customer's whole life in a real browser. Starts `make dev` (scripts/dev.sh) in the background,
# waits for it to be ready, and drives the demo app (web/) in headless Chromium with scripts/e2e.py: sign up,
# subscribe, upgrade, a failed renewal and its recovery, an add-on (its limits raised), credits, a switch
# scheduled for the period end (still shown after a reload), cancel (the add-on with it), resume — each change
# checked in the account's History timeline, newest first; then a team
# (e2e.py --team): an organization made with the switcher and subscribed to Team by its admin, members added past
# the included seats (the seat item follows, prorated), a member refused checkout and stopped at their own cap
# while the pool has room, a member removed; then the TypeScript client's tests against the same local functions
# (clients/typescript/test/local/). Screenshots of every step and the logs land in .local/e2e/; then
# the user's journey again (not the team's) with the local Stripe delivering every event twice and out of order
# (.local/e2e/chaos/).
#
# Chromium and chromedriver come from Debian's packages (`apt-get install chromium chromium-driver`), or
# CHROMIUM / CHROMEDRIVER name them; nothing downloads a browser. Without them this says that it skipped and
# exits 0, unless E2E_REQUIRED=1 (CI), where a missing browser is a failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

chromium=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
driver=${CHROMEDRIVER:-$(command -v chromedriver || true)}
if [[ -z "$chromium" || -z "$driver" ]]; then
  if [[ "${E2E_REQUIRED:-0}" == 1 ]]; then
    echo "e2e: FAILED — E2E_REQUIRED=1 but Chromium or chromedriver is missing (apt-get install chromium chromium-driver)" >&2
    exit 1
  fi
  echo "e2e: SKIPPED the browser test — Chromium and chromedriver not found (Debian: apt-get install chromium chromium-driver)"
  exit 0
fi

source scripts/shared.sh
venv_requirements e2e scripts/requirements-e2e.txt

out=.local/e2e
rm -rf "$out"
mkdir -p "$out"

# The functions are compiled before the browser starts, so that no step waits on the compiler (cargo lambda
# watch would build each one on its first request).
echo "e2e: building the functions (debug, as cargo lambda watch runs them)..."
cargo build --locked -q -p stripe-webhook -p clerk-webhook -p billing-api -p entitlement-processor -p usage-api

if (exec 3<>/dev/tcp/127.0.0.1/9000) 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/3000) 2>/dev/null; then
  echo "e2e: port 9000 or 3000 is in use — stop 'make dev' first" >&2
  exit 1
fi

# One journey against a fresh `make dev`; $1 = the screenshot folder, the rest e2e.py's own flags (--team);
# extra env (STRIPE_CHAOS) passes through.
journey() {
  local dir=$1 status=0
  shift
  mkdir -p "$dir"
  start_dev e2e "$dir/dev.log" || return 1
  .venv/bin/python scripts/e2e.py --ready .local/dev-ready --out "$dir" --chromium "$chromium" --driver "$driver" "$@" || status=$?
  # The TypeScript client against the same local functions (clients/typescript/test/local/): a new user's
  # session token from the local Clerk with the browser client, the local usage-api key with the server client.
  # Once, on the first stack (dev.sh built the client's dist/ for the demo app).
  if [[ $status == 0 && -n "${client_tests:-}" ]]; then
    echo "e2e: the TypeScript client against the local functions"
    (cd clients/typescript && node scripts/test-local.mjs "$PWD/../../.local/dev-ready") 2>&1 | tee "$dir/client-local.log" ||
      status=1
  fi
  if [[ $status != 0 ]]; then
    echo "e2e: the end of $dir/dev.log:" >&2
    tail -40 "$dir/dev.log" >&2
  fi
  stop_dev
  return $status
}
trap stop_dev EXIT

client_tests=1 journey "$out" --team
# The same journey with the local Stripe's --chaos: every event delivered twice, shuffled. The entitlements
# must come out the same.
echo "e2e: again, with every Stripe event delivered twice and out of order (STRIPE_CHAOS=1)"
STRIPE_CHAOS=1 journey "$out/chaos"
