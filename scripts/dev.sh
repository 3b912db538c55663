#!/usr/bin/env bash
# `make dev`: a local AWS built from infra/template.yaml, then every function under `cargo lambda watch`.
# Stops the local AWS when watch exits (Ctrl-C).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap-venv.sh
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p .local

# A stable local signing secret, made once per checkout.
if [[ ! -f .local/dev-secrets.env ]]; then
  secret="whsec_$(.venv/bin/python -c 'import base64,os;print(base64.b64encode(os.urandom(24)).decode())')"
  echo "LOCAL_STRIPE_WEBHOOK_SECRET=$secret" > .local/dev-secrets.env
fi
source .local/dev-secrets.env
# `stripe listen` prints its own whsec_: pass it as STRIPE_WEBHOOK_SECRET and both are accepted (rotation).
stripe_secrets="$LOCAL_STRIPE_WEBHOOK_SECRET${STRIPE_WEBHOOK_SECRET:+,$STRIPE_WEBHOOK_SECRET}"

aws_env=.local/dev-aws.env
cleanup() { .venv/bin/python scripts/local_aws.py stop --env-file "$aws_env" || true; }
trap cleanup EXIT
.venv/bin/python scripts/local_aws.py stop --env-file "$aws_env" >/dev/null 2>&1 || true
.venv/bin/python scripts/local_aws.py start --env-file "$aws_env"
source "$aws_env"

# cargo lambda watch reads plain KEY=VALUE lines.
{
  for name in AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION IDEMPOTENCY_TABLE \
    BILLING_EVENTS_TOPIC_ARN; do
    echo "$name=${!name}"
  done
  echo "STRIPE_WEBHOOK_SECRET=$stripe_secrets"
  echo "RUST_LOG=${RUST_LOG:-info}"
} > .local/dev.env

cat <<MSG

  Entitle is running locally.

  Stripe webhook   POST http://127.0.0.1:9000/lambda-url/stripe-webhook/webhooks/stripe
  Signing secret   $LOCAL_STRIPE_WEBHOOK_SECRET
  Local AWS        $AWS_ENDPOINT_URL  (topic $BILLING_EVENTS_TOPIC_ARN)

  Try it (another terminal):
    make send-stripe EVENT=customer.subscription.created    # a signed fixture, no Stripe account needed
    make events                                              # what reached the entitlement queue
  Real test-mode events:
    stripe listen --forward-to localhost:9000/lambda-url/stripe-webhook/webhooks/stripe
    then restart with STRIPE_WEBHOOK_SECRET=<the whsec_ it prints> make dev

  The first request compiles the function; later edits rebuild it. Ctrl-C stops everything.

MSG
cargo lambda watch --env-file .local/dev.env --invoke-address 127.0.0.1 --invoke-port 9000
