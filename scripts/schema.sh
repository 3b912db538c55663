#!/usr/bin/env bash
# `make schema`: docs/openapi.yaml drives tests of billing-api and usage-api (schemathesis, scripts/schema_check.py)
# on a fresh `make dev` (scripts/dev.sh) started in the background: every response conforms to the document, no
# 5xx for any generated input, invalid inputs are refused with a 4xx, and reads and refusals change nothing.
# SCHEMA_EXAMPLES (12) test cases per operation and phase; SCHEMA_PORT (9000) and SCHEMA_APP_PORT (3000) move the
# stack, to run it beside another `make dev`. Reports and logs in .local/schema/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/bootstrap-venv.sh
wanted=$(sha256sum scripts/requirements-schema.txt | cut -d' ' -f1)
if [[ "$(cat .venv/.requirements-schema.sha256 2>/dev/null)" != "$wanted" ]]; then
  echo "schema: installing schemathesis into .venv (scripts/requirements-schema.txt)..." >&2
  .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements-schema.txt
  echo "$wanted" > .venv/.requirements-schema.sha256
fi
export PATH="$PWD/.venv/bin:$PATH"

port=${SCHEMA_PORT:-9000}
app_port=${SCHEMA_APP_PORT:-3000}
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || (exec 3<>"/dev/tcp/127.0.0.1/$app_port") 2>/dev/null; then
  echo "schema: port $port or $app_port is in use — stop 'make dev' first (or set SCHEMA_PORT / SCHEMA_APP_PORT)" >&2
  exit 1
fi
echo "schema: building the functions (debug, as cargo lambda watch runs them)..."
cargo build --locked -q -p stripe-webhook -p clerk-webhook -p billing-api -p entitlement-processor -p usage-api

out=.local/schema
rm -rf "$out"
mkdir -p "$out"
rm -f .local/dev-ready
DEV_INVOKE_PORT=$port APP_ORIGIN="http://localhost:$app_port" setsid scripts/dev.sh >"$out/dev.log" 2>&1 &
dev_pid=$!
stop_dev() {
  kill -TERM -- "-$dev_pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$dev_pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -KILL -- "-$dev_pid" 2>/dev/null || true
  .venv/bin/python scripts/local_aws.py stop --env-file .local/dev-aws.env >/dev/null 2>&1 || true
}
trap stop_dev EXIT
for _ in $(seq 600); do
  [[ -f .local/dev-ready ]] && break
  if ! kill -0 "$dev_pid" 2>/dev/null; then
    echo "schema: make dev exited before it was ready; the end of $out/dev.log:" >&2
    tail -30 "$out/dev.log" >&2
    exit 1
  fi
  sleep 0.5
done
[[ -f .local/dev-ready ]] || { echo "schema: make dev was not ready after 5 minutes; see $out/dev.log" >&2; exit 1; }
# The seeded user's Starter subscription, announced as Stripe would (a signed fixture): reads then answer a plan.
source .local/dev-secrets.env
.venv/bin/python scripts/send_stripe.py --url "http://127.0.0.1:$port/lambda-url/stripe-webhook/webhooks/stripe" \
  --secret "$LOCAL_STRIPE_WEBHOOK_SECRET" --event customer.subscription.created --timeout 600 >"$out/send-stripe.log"
status=0
.venv/bin/python scripts/schema_check.py --ready .local/dev-ready --aws-env .local/dev-aws.env --out "$out" || status=$?
if [[ $status != 0 ]]; then
  echo "schema: the end of $out/dev.log:" >&2
  tail -40 "$out/dev.log" >&2
fi
exit $status
