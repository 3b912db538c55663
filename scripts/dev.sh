#!/usr/bin/env bash
# `make dev`: a local AWS built from infra/template.yaml, then every function under `cargo lambda watch`, and
# scripts/bridge.py feeding the entitlement queue to the processor (Lambda's SQS trigger, locally).
# Stops everything it started (local AWS, fakes, bridge) when watch exits (Ctrl-C).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap-venv.sh
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p .local

# Stable local signing secrets, made once per checkout.
new_secret() { echo "whsec_$(.venv/bin/python -c 'import base64,os;print(base64.b64encode(os.urandom(24)).decode())')"; }
touch .local/dev-secrets.env
source .local/dev-secrets.env
if [[ -z "${LOCAL_STRIPE_WEBHOOK_SECRET:-}" ]]; then
  LOCAL_STRIPE_WEBHOOK_SECRET=$(new_secret)
  echo "LOCAL_STRIPE_WEBHOOK_SECRET=$LOCAL_STRIPE_WEBHOOK_SECRET" >> .local/dev-secrets.env
fi
if [[ -z "${LOCAL_JWT_SECRET:-}" ]]; then
  LOCAL_JWT_SECRET=$(new_secret)
  echo "LOCAL_JWT_SECRET=$LOCAL_JWT_SECRET" >> .local/dev-secrets.env
fi
if [[ -z "${LOCAL_CLERK_WEBHOOK_SECRET:-}" ]]; then
  LOCAL_CLERK_WEBHOOK_SECRET=$(new_secret)
  echo "LOCAL_CLERK_WEBHOOK_SECRET=$LOCAL_CLERK_WEBHOOK_SECRET" >> .local/dev-secrets.env
fi
# `stripe listen` prints its own whsec_: pass it as STRIPE_WEBHOOK_SECRET and both are accepted (rotation).
stripe_secrets="$LOCAL_STRIPE_WEBHOOK_SECRET${STRIPE_WEBHOOK_SECRET:+,$STRIPE_WEBHOOK_SECRET}"

aws_env=.local/dev-aws.env
fake_stripe_pid=""
fake_clerk_pid=""
bridge_pid=""
cleanup() {
  for pid in "$bridge_pid" "$fake_clerk_pid" "$fake_stripe_pid"; do
    [[ -z "$pid" ]] || kill "$pid" 2>/dev/null || true
  done
  .venv/bin/python scripts/local_aws.py stop --env-file "$aws_env" || true
}
trap cleanup EXIT
.venv/bin/python scripts/local_aws.py stop --env-file "$aws_env" >/dev/null 2>&1 || true
.venv/bin/python scripts/local_aws.py start --env-file "$aws_env"
source "$aws_env"

# Starts a local stand-in (`scripts/fake_*.py --port 0`, whose first line is `listening on <port>`) in the
# background; sets fake_pid and fake_base.
start_fake() {
  local script=$1 out=".local/$(basename "$1" .py).out" line=""
  .venv/bin/python "$script" --port 0 >"$out" 2>&1 &
  fake_pid=$!
  for _ in $(seq 100); do
    read -r line <"$out" || true
    if [[ $line == "listening on "* ]]; then
      fake_base="http://127.0.0.1:${line##* }"
      return 0
    fi
    kill -0 "$fake_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "dev: $script did not start; see $out" >&2
  return 1
}

# A control-API call to a local stand-in: POST <base><path> with a JSON body.
control() {
  .venv/bin/python - "$1" "$2" <<'PY'
import sys, urllib.request
request = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST",
                                 headers={"content-type": "application/json"})
urllib.request.urlopen(request, timeout=5).read()
PY
}

# The user, customer and subscription the fixtures (fixtures/clerk, fixtures/stripe) name, so that
# `make send-clerk` / `make send-stripe` and the sample token below tell one story.
fixture_user=user_2abcDEFghiJKLmnoPQRstuVWxyz
fixture_customer=cus_PqR5tUvWxYz012
fixture_subscription=sub_1QxR7tKx7Yz2LmNoA8fE3kWd

# Stripe's API: your test-mode key when STRIPE_SECRET_KEY is set, else the local stand-in.
if [[ -n "${STRIPE_SECRET_KEY:-}" ]]; then
  stripe_key=$STRIPE_SECRET_KEY
  stripe_base=${STRIPE_API_BASE:-https://api.stripe.com}
else
  start_fake scripts/fake_stripe.py
  fake_stripe_pid=$fake_pid
  stripe_key=sk_test_entitle_local
  stripe_base=$fake_base
  .venv/bin/python scripts/seed_fake_stripe.py --base "$stripe_base"
  # The fixture user's own customer, linked in the customers table, and the subscription on it that the
  # processor reads when `make send-stripe EVENT=customer.subscription.created` names it: what Stripe, the
  # customers table and the entitlements say of this user agree (a checkout for a second plan is a 409).
  control "$stripe_base/__fake/customers" "{\"id\": \"$fixture_customer\", \"email\": \"ada@example.com\",
    \"name\": \"Ada Lovelace\", \"metadata\": {\"clerkUserId\": \"$fixture_user\"}}"
  .venv/bin/python - "$fixture_user" "$fixture_customer" <<'PY'
import os, sys, time
import boto3
user, customer = sys.argv[1], sys.argv[2]
now = str(int(time.time()))
boto3.client("dynamodb").put_item(TableName=os.environ["CUSTOMERS_TABLE"], Item={
    "userId": {"S": user}, "stripeCustomerId": {"S": customer}, "status": {"S": "linked"},
    "createdAt": {"N": now}, "linkedAt": {"N": now}, "email": {"S": "ada@example.com"}, "name": {"S": "Ada Lovelace"}})
PY
  echo "fake Stripe: seeded customer $fixture_customer for $fixture_user (linked in $CUSTOMERS_TABLE)"
  control "$stripe_base/__fake/subscriptions" "{\"id\": \"$fixture_subscription\", \"customer\": \"$fixture_customer\",
    \"price\": \"price_1StarterMonthlyKx7Yz2LmNo\", \"status\": \"active\", \"metadata\": {\"userId\": \"$fixture_user\"}}"
  echo "fake Stripe: seeded subscription $fixture_subscription (Starter, active) for $fixture_user"
fi

# Clerk's Backend API (the processor mirrors entitlements into publicMetadata): your key when CLERK_SECRET_KEY
# is set, else the local stand-in. It knows only the users created through its control API and answers 404
# for any other, as Clerk does; the processor logs that and applies the entitlements anyway.
if [[ -n "${CLERK_SECRET_KEY:-}" ]]; then
  clerk_key=$CLERK_SECRET_KEY
  clerk_base=${CLERK_API_BASE:-https://api.clerk.com}
else
  start_fake scripts/fake_clerk.py
  fake_clerk_pid=$fake_pid
  clerk_key=sk_test_entitle_local
  clerk_base=$fake_base
  control "$clerk_base/__fake/users" "{\"id\": \"$fixture_user\", \"email\": \"ada@example.com\",
    \"first_name\": \"Ada\", \"last_name\": \"Lovelace\"}"
  echo "fake Clerk: created user $fixture_user"
fi

# billing-api: Clerk's JWKS when CLERK_JWKS_URL is set, else HS256 tokens signed with a local secret.
app_origin=${APP_ORIGIN:-http://localhost:3000}
demo_user=$fixture_user
demo_token=$(.venv/bin/python - "$LOCAL_JWT_SECRET" "$demo_user" <<'PY'
import base64, hashlib, hmac, json, sys, time
secret, user = sys.argv[1], sys.argv[2]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"sub": user, "iat": now, "nbf": now, "exp": now + 86400}).encode())
sig = b64(hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
PY
)

# usage-api: the product's servers' API key (yours when USAGE_API_KEYS is set, else a fresh local one).
usage_key=${USAGE_API_KEYS:-sk_usage_local_$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')}

# cargo lambda watch reads plain KEY=VALUE lines.
{
  for name in AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION IDEMPOTENCY_TABLE \
    CUSTOMERS_TABLE ENTITLEMENTS_TABLE USAGE_TABLE BILLING_EVENTS_TOPIC_ARN; do
    echo "$name=${!name}"
  done
  echo "STRIPE_WEBHOOK_SECRET=$stripe_secrets"
  echo "CLERK_WEBHOOK_SECRET=$LOCAL_CLERK_WEBHOOK_SECRET${CLERK_WEBHOOK_SECRET:+,$CLERK_WEBHOOK_SECRET}"
  echo "STRIPE_SECRET_KEY=$stripe_key"
  echo "STRIPE_API_BASE=$stripe_base"
  echo "CLERK_SECRET_KEY=$clerk_key"
  echo "CLERK_API_BASE=$clerk_base"
  echo "DEAD_LETTER_QUEUE_URL=$ENTITLEMENT_DLQ_URL"
  echo "GRACE_PERIOD_DAYS=${GRACE_PERIOD_DAYS:-7}"
  echo "ALLOWED_REDIRECT_ORIGINS=$app_origin"
  echo "ALLOWED_ORIGINS=$app_origin"
  if [[ -n "${CLERK_JWKS_URL:-}" ]]; then
    echo "CLERK_JWKS_URL=$CLERK_JWKS_URL"
    echo "CLERK_ISSUER=${CLERK_ISSUER:-}"
  else
    echo "JWT_SECRET=$LOCAL_JWT_SECRET"
  fi
  echo "USAGE_API_KEYS=$usage_key"
  echo "RUST_LOG=${RUST_LOG:-info}"
} > .local/dev.env

cat <<MSG

  Entitle is running locally.

  Stripe webhook   POST http://127.0.0.1:9000/lambda-url/stripe-webhook/webhooks/stripe
                   signing secret $LOCAL_STRIPE_WEBHOOK_SECRET
  Clerk webhook    POST http://127.0.0.1:9000/lambda-url/clerk-webhook/webhooks/clerk
                   signing secret $LOCAL_CLERK_WEBHOOK_SECRET
  Usage API        POST http://127.0.0.1:9000/lambda-url/usage-api/v1/check     {"userId","feature","amount"}
                   POST http://127.0.0.1:9000/lambda-url/usage-api/v1/usage     {"userId","feature","amount","idempotencyKey"}
                   API key (Authorization: Bearer) $usage_key
  Billing API      POST http://127.0.0.1:9000/lambda-url/billing-api/checkout   {"price","successUrl","cancelUrl"}
                   POST http://127.0.0.1:9000/lambda-url/billing-api/portal     {"returnUrl"}
                   GET  http://127.0.0.1:9000/lambda-url/billing-api/entitlements
                   redirects and CORS allowed for $app_origin
  Signed-in token  ($demo_user, 24 h; HS256 with the local JWT secret)
                   $demo_token
  Processor        entitlement-processor, fed by scripts/bridge.py: entitlement queue -> SQS event ->
                   POST http://127.0.0.1:9000/2015-03-31/functions/entitlement-processor/invocations
                   (one "bridge:" line per batch below; dead letters go to $ENTITLEMENT_DLQ_URL)
  Stripe API       $stripe_base
  Clerk API        $clerk_base$([[ -z "$fake_clerk_pid" ]] || echo "  (local stand-in; knows only $fixture_user)")
  Local AWS        $AWS_ENDPOINT_URL  (topic $BILLING_EVENTS_TOPIC_ARN)

  Try it (another terminal):
    make send-clerk EVENT=user.created                       # a Svix-signed sign-up: creates the Stripe customer
    make send-stripe EVENT=customer.subscription.created    # a signed fixture, no Stripe account needed
    make events                                              # what is waiting in the entitlement queue
    curl -s -H "authorization: Bearer $demo_token" \\
      http://127.0.0.1:9000/lambda-url/billing-api/entitlements   # Starter, once the bridge has fed the processor
    curl -s -H "authorization: Bearer $demo_token" -d '{"price":"starter_monthly","successUrl":"$app_origin/ok","cancelUrl":"$app_origin/no"}' \\
      http://127.0.0.1:9000/lambda-url/billing-api/checkout
  Real test-mode events:
    stripe listen --forward-to localhost:9000/lambda-url/stripe-webhook/webhooks/stripe
    then restart with STRIPE_WEBHOOK_SECRET=<the whsec_ it prints> make dev

  The first request compiles the function; later edits rebuild it. Ctrl-C stops everything.

MSG
# The bridge starts once watch answers on its invoke port; cleanup stops it.
(
  until (exec 3<>/dev/tcp/127.0.0.1/9000) 2>/dev/null; do sleep 0.5; done
  exec .venv/bin/python scripts/bridge.py --env-file "$aws_env"
) &
bridge_pid=$!
cargo lambda watch --env-file .local/dev.env --invoke-address 127.0.0.1 --invoke-port 9000
