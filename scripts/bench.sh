#!/usr/bin/env bash
# `make bench`: the figures we track, printed.
#  1. criterion: verify + parse + normalize a ~3 KB and a ~30 KB Stripe event, beside HMAC-SHA256 alone;
#     `usage`: usage-api's check and consume decisions (entitle-domain), µs per call;
#  2. the size of each release arm64 bootstrap.zip, built the way Lambda runs it (cargo lambda, arm64);
#  3. cold init of each function: process start to its first poll of the Runtime API, SDK clients built
#     (scripts/cold_start.py stubs the Runtime API);
#  4. CPU per warm event of the webhooks and of a usage-api consume, whole process, with AWS and Stripe answered at once by loopback
#     stand-ins (scripts/warm_cpu.py).
# 3 and 4 run this machine's native release build, since the arm64 binary cannot run here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap-venv.sh
export PATH="$PWD/.venv/bin:$PATH"
target_dir="${CARGO_TARGET_DIR:-target}"
functions="stripe-webhook clerk-webhook billing-api entitlement-processor usage-api"
# `scripts/bench.sh cold` (or cpu, usage, size, warm) runs only those parts.
parts=${*:-cpu usage size cold warm}
wants() { [[ " $parts " == *" $1 "* ]]; }
# BENCH_BIN_DIR=DIR: measure the binaries in DIR (e.g. a copy of an earlier build, for before/after on one
# machine) instead of building this checkout's.
bin_dir="${BENCH_BIN_DIR:-$target_dir/release}"
build_release() { [[ -n "${BENCH_BIN_DIR:-}" ]] || cargo build --release --quiet "$@"; }

if wants cpu; then
echo "== 1. CPU per event (criterion)"
cargo bench -p entitle-core --bench stripe_webhook -- --warm-up-time 1 --measurement-time 4 2>/dev/null \
  | awk '/^stripe_webhook\//{name=$0; want=1} want && /^ +time:/{sub(/^ +/, ""); printf "%-70s %s\n", name, $0; want=0}'
fi

if wants usage; then
echo
echo "== 1b. CPU per usage decision (criterion, entitle-domain)"
cargo bench -p entitle-domain --bench usage -- --warm-up-time 1 --measurement-time 3 2>/dev/null \
  | awk '/^usage\//{name=$0; sub(/ +time:.*/, "", name); want=1} want && /time:/{sub(/^.*time: +/, ""); printf "%-70s %s\n", name, $0; want=0}'
fi

if wants size; then
echo
echo "== 2. Release arm64 bootstrap.zip (cargo lambda build --release --arm64)"
rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
cargo lambda build --release --arm64 --output-format zip --quiet $(printf -- "-p %s " $functions)
for function in $functions; do
  zip="$target_dir/lambda/$function/bootstrap.zip"
  printf '%-28s %8d bytes (%.2f MB)\n' "$(basename "$(dirname "$zip")")" "$(stat -c %s "$zip")" \
    "$(awk -v b="$(stat -c %s "$zip")" 'BEGIN{print b/1000000}')"
done
fi

if wants cold; then
echo
echo "== 3. Cold init (native release build, Runtime API stub; process start -> first poll for an invocation)"
build_release $(printf -- "-p %s " $functions)
# No SSL_CERT_FILE: every HTTPS client has its roots compiled in and reads no certificate file.
common=(--env IDEMPOTENCY_TABLE=entitle-idempotency --env CUSTOMERS_TABLE=entitle-customers
  --env ENTITLEMENTS_TABLE=entitle-entitlements --env USAGE_TABLE=entitle-usage
  --env BILLING_EVENTS_TOPIC_ARN=arn:aws:sns:us-east-1:123456789012:entitle-billing-events
  --env STRIPE_SECRET_KEY=sk_test_cold_start --env CLERK_SECRET_KEY=sk_test_cold_start)
for function in $functions; do
  case $function in
    stripe-webhook) extra=(--env STRIPE_WEBHOOK_SECRET=whsec_cold_start_measurement) ;;
    clerk-webhook) extra=(--env CLERK_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
      --env DEAD_LETTER_QUEUE_URL=http://127.0.0.1:1/000000000000/dlq) ;;
    billing-api) extra=(--env CLERK_JWKS_URL=https://clerk.example.com/.well-known/jwks.json
      --env CLERK_ISSUER=https://clerk.example.com --env ALLOWED_REDIRECT_ORIGINS=https://app.example.com) ;;
    entitlement-processor) extra=(--env DEAD_LETTER_QUEUE_URL=http://127.0.0.1:1/000000000000/dlq
      --env ENTITLEMENT_QUEUE_URL=http://127.0.0.1:1/000000000000/entitlements) ;;
    usage-api) extra=(--env USAGE_API_KEYS=sk_usage_cold_start) ;;
  esac
  echo "-- $function"
  .venv/bin/python scripts/cold_start.py --binary "$(realpath "$bin_dir/$function")" --runs 30 \
    "${common[@]}" "${extra[@]}"
done
fi

if wants warm; then
echo
echo "== 4. CPU per warm event (native release build; whole process utime+stime / events; AWS, Stripe and the Runtime API stubbed on loopback)"
build_release -p stripe-webhook -p clerk-webhook -p usage-api
# usage-api-plan and usage-api-member run the usage-api binary: a user on a paid plan, and an organization's
# member under a per-member cap (two counters in one transaction) — measured in the same run, to compare.
# usage-api-read and usage-api-at: the current entitlements (one BatchGetItem) and the version in force at an
# instant, explained (one Query of the history) — the point-in-time read beside its peer.
for function in stripe-webhook clerk-webhook usage-api usage-api-plan usage-api-member usage-api-read usage-api-at; do
  warm_env=()
  # clerk-webhook dead-letters a refused subscription stop (never on this path, but required at init).
  [[ $function == clerk-webhook ]] && warm_env=(--env DEAD_LETTER_QUEUE_URL=http://127.0.0.1:1/000000000000/dlq)
  binary=${function%-plan}
  binary=${binary%-member}
  binary=${binary%-read}
  binary=${binary%-at}
  .venv/bin/python scripts/warm_cpu.py --function "$function" --binary "$(realpath "$bin_dir/$binary")" "${warm_env[@]}"
done
fi
