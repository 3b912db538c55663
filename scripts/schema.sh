#!/usr/bin/env bash
# `make schema`: docs/openapi.yaml drives tests of billing-api and usage-api (schemathesis, scripts/schema_check.py)
# on a fresh `make dev` (scripts/dev.sh) started in the background: every response conforms to the document, no
# 5xx for any generated input, invalid inputs are refused with a 4xx, and reads and refusals change nothing.
# SCHEMA_EXAMPLES (12) test cases per operation and phase; SCHEMA_PORT (9000) and SCHEMA_APP_PORT (3000) move the
# stack, to run it beside another `make dev`. Reports and logs in .local/schema/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/shared.sh
venv_requirements schema scripts/requirements-schema.txt

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
trap stop_dev EXIT
DEV_INVOKE_PORT=$port APP_ORIGIN="http://localhost:$app_port" start_dev schema "$out/dev.log"
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
