#!/usr/bin/env bash
# `make dev`: a local AWS built from infra/template.yaml, then every function under `cargo lambda watch`, and
# scripts/bridge.py feeding the entitlement queue to the processor (Lambda's SQS trigger, locally); without
# Stripe / Clerk keys, local stand-ins of both (scripts/fake_stripe.py, scripts/fake_clerk.py: sign-in, session
# tokens, webhooks); and the demo app (web/, scripts/demo_server.py) on $APP_ORIGIN (http://localhost:3000).
# Once everything answers it writes .local/dev-ready (KEY=VALUE: APP_URL, STRIPE_BASE, CLERK_BASE,
# USAGE_API_KEY), for scripts that start it in the background and wait (scripts/e2e.sh); removed on exit.
# Stops everything it started (local AWS, fakes, demo app, bridge) when watch exits (Ctrl-C) or on SIGTERM.
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
ready_file=.local/dev-ready
rm -f "$ready_file"
fake_stripe_pid=""
fake_clerk_pid=""
demo_pid=""
bridge_pid=""
cleanup() {
  rm -f "$ready_file"
  for pid in "$bridge_pid" "$demo_pid" "$fake_clerk_pid" "$fake_stripe_pid"; do
    [[ -z "$pid" ]] || kill "$pid" 2>/dev/null || true
  done
  .venv/bin/python scripts/local_aws.py stop --env-file "$aws_env" || true
}
trap cleanup EXIT
trap 'exit 143' TERM HUP
trap 'exit 130' INT
.venv/bin/python scripts/local_aws.py stop --env-file "$aws_env" >/dev/null 2>&1 || true
.venv/bin/python scripts/local_aws.py start --env-file "$aws_env"
source "$aws_env"

# Starts a local server (`scripts/<name>.py --port 0 [args...]`, whose first line is `listening on <port>`)
# in the background; sets fake_pid and fake_base. `--port N` among the args picks the port.
start_fake() {
  local script=$1 out=".local/$(basename "$1" .py).out" line=""
  shift
  : >"$out"  # emptied first: the background job's own redirection may come after the first read below
  .venv/bin/python "$script" --port 0 "$@" >"$out" 2>&1 &
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
  echo "dev: $script did not start; see $out:" >&2
  tail -5 "$out" >&2
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
# The same, printing the answer's body; a 4xx/5xx prints `HTTP <status>` and returns 1.
control_answer() {
  .venv/bin/python - "$1" "$2" <<'PY'
import sys, urllib.error, urllib.request
request = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST",
                                 headers={"content-type": "application/json"})
try:
    print(urllib.request.urlopen(request, timeout=5).read().decode())
except urllib.error.HTTPError as e:
    print(f"HTTP {e.code}")
    sys.exit(1)
PY
}

# The user, customer and subscription the fixtures (fixtures/clerk, fixtures/stripe) name, so that
# `make send-clerk` / `make send-stripe` and the sample token below tell one story.
fixture_user=user_2abcDEFghiJKLmnoPQRstuVWxyz
fixture_customer=cus_PqR5tUvWxYz012
fixture_subscription=sub_1QxR7tKx7Yz2LmNoA8fE3kWd

# DEV_INVOKE_PORT: cargo lambda watch's port (9000), for a second local stack beside the first (scripts/schema.sh).
invoke_port=${DEV_INVOKE_PORT:-9000}
functions=http://127.0.0.1:$invoke_port/lambda-url
app_origin=${APP_ORIGIN:-http://localhost:3000}
app_origin=${app_origin%/}

# Stripe's API: your test-mode key when STRIPE_SECRET_KEY is set, else the local stand-in, which delivers its
# events (signed, as `stripe listen` does) to the local stripe-webhook.
# billing-api's portal sessions use STRIPE_PORTAL_CONFIGURATION when set (yours, with a real key; without it,
# billing-api looks up the configuration `entitle setup` made, metadata.entitle=setup); with the local
# stand-in, the one scripts/seed_fake_stripe.py creates as `entitle setup` would (a fresh account, like the
# stand-in, has no default portal configuration).
stripe_portal_configuration=${STRIPE_PORTAL_CONFIGURATION:-}
if [[ -n "${STRIPE_SECRET_KEY:-}" ]]; then
  stripe_key=$STRIPE_SECRET_KEY
  stripe_base=${STRIPE_API_BASE:-https://api.stripe.com}
else
  # --hosted-pages: Checkout sessions and portal sessions link to the fake's own pages (pay, decline, change the
  # card, cancel...), so the demo app's redirects work with no Stripe account.
  # STRIPE_CHAOS=1: every event delivered twice and shuffled (Entitle must not care).
  start_fake scripts/fake_stripe.py --hosted-pages --business-name "Acme Agents" ${STRIPE_CHAOS:+--chaos}
  fake_stripe_pid=$fake_pid
  stripe_key=sk_test_entitle_local
  stripe_base=$fake_base
  # The catalog's products and prices, and Entitle's portal configuration (its id alone on stdout).
  stripe_portal_configuration=$(.venv/bin/python scripts/seed_fake_stripe.py --base "$stripe_base" --api-key "$stripe_key")
  if control_answer "$stripe_base/__fake/listen" "{\"url\": \"$functions/stripe-webhook/webhooks/stripe\",
      \"secret\": \"$LOCAL_STRIPE_WEBHOOK_SECRET\"}" >/dev/null; then
    echo "fake Stripe: delivers its events to $functions/stripe-webhook/webhooks/stripe"
  else
    echo "dev: WARNING: the local Stripe has no POST /__fake/listen: its events are not delivered" \
      "(play them with make send-stripe)" >&2
  fi
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
  # The Starter monthly price as scripts/seed_fake_stripe.py seeded it: the catalog's id, else
  # price_local_starter_monthly (the id it gives a price known only by its lookup key).
  starter_price=$(.venv/bin/python -c 'import tomllib
for plan in tomllib.load(open("config/plans.toml", "rb"))["plans"]:
    for price in plan.get("prices", []):
        if price.get("lookup_key") == "starter_monthly":
            print(price.get("id") or "price_local_starter_monthly")')
  control "$stripe_base/__fake/subscriptions" "{\"id\": \"$fixture_subscription\", \"customer\": \"$fixture_customer\",
    \"price\": \"${starter_price:-price_local_starter_monthly}\", \"status\": \"active\", \"metadata\": {\"userId\": \"$fixture_user\"}}"
  echo "fake Stripe: seeded subscription $fixture_subscription (Starter, active) for $fixture_user"
fi

# Clerk's Backend API (the processor mirrors entitlements into publicMetadata): your key when CLERK_SECRET_KEY
# is set, else the local stand-in. It knows only the users created through its control API and answers 404
# for any other, as Clerk does; the processor logs that and applies the entitlements anyway.
if [[ -n "${CLERK_SECRET_KEY:-}" ]]; then
  clerk_key=$CLERK_SECRET_KEY
  clerk_base=${CLERK_API_BASE:-https://api.clerk.com}
else
  # Also the sign-in page and session tokens (RS256, its own JWKS), the Frontend-like routes of the demo app's
  # organization switcher, and Clerk's webhooks (user.created, organization.created, organizationMembership.*)
  # sent to the clerk-webhook.
  start_fake scripts/fake_clerk.py --webhook-url "$functions/clerk-webhook/webhooks/clerk" \
    --webhook-secret "$LOCAL_CLERK_WEBHOOK_SECRET"
  fake_clerk_pid=$fake_pid
  clerk_key=sk_test_entitle_local
  clerk_base=$fake_base
  control "$clerk_base/__fake/users" "{\"id\": \"$fixture_user\", \"email\": \"ada@example.com\",
    \"first_name\": \"Ada\", \"last_name\": \"Lovelace\"}"
  echo "fake Clerk: created user $fixture_user"
fi

# billing-api's session tokens: Clerk's (CLERK_JWKS_URL, CLERK_ISSUER; CLERK_SIGN_IN_URL for the demo app's
# "Sign in") when set; else the local Clerk's; else (a real CLERK_SECRET_KEY without a JWKS URL) HS256 tokens
# signed with a local secret, and no demo app (it needs a sign-in page).
demo_user=$fixture_user
jwks_url="" issuer="" sign_in_url="" token_kind=""
if [[ -n "${CLERK_JWKS_URL:-}" ]]; then
  jwks_url=$CLERK_JWKS_URL
  issuer=${CLERK_ISSUER:-}
  sign_in_url=${CLERK_SIGN_IN_URL:-}
elif [[ -n "$fake_clerk_pid" ]]; then
  jwks_url=$clerk_base/.well-known/jwks.json
  issuer=$clerk_base
  sign_in_url=$clerk_base/sign-in
fi
parties=${CLERK_AUTHORIZED_PARTIES:-$app_origin}
if [[ -n "$fake_clerk_pid" && -z "${CLERK_JWKS_URL:-}" ]]; then
  demo_token=$(control_answer "$clerk_base/__fake/sessions" "{\"userId\": \"$demo_user\", \"azp\": \"$app_origin\"}" |
    .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["token"])')
  token_kind="RS256, made by the local Clerk"
elif [[ -z "$jwks_url" ]]; then
  token_kind="HS256 with the local JWT secret"
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
fi

# usage-api: the product's servers' API key (yours when USAGE_API_KEYS is set, else a fresh local one). The
# functions' Cargo.toml carry no [package.metadata.lambda.env]: cargo lambda watch would let it win over
# --env-file.
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
  [[ -z "$stripe_portal_configuration" ]] || echo "STRIPE_PORTAL_CONFIGURATION=$stripe_portal_configuration"
  echo "CLERK_SECRET_KEY=$clerk_key"
  echo "CLERK_API_BASE=$clerk_base"
  echo "DEAD_LETTER_QUEUE_URL=$ENTITLEMENT_DLQ_URL"
  echo "ENTITLEMENT_QUEUE_URL=$ENTITLEMENT_QUEUE_URL"
  echo "GRACE_PERIOD_DAYS=${GRACE_PERIOD_DAYS:-7}"
  echo "ALLOWED_REDIRECT_ORIGINS=$app_origin"
  echo "ALLOWED_ORIGINS=$app_origin"
  if [[ -n "$jwks_url" ]]; then
    echo "CLERK_JWKS_URL=$jwks_url"
    echo "CLERK_ISSUER=$issuer"
    echo "CLERK_AUTHORIZED_PARTIES=$parties"
  else
    echo "JWT_SECRET=$LOCAL_JWT_SECRET"
  fi
  echo "USAGE_API_KEYS=$usage_key"
  echo "RUST_LOG=${RUST_LOG:-info}"
} > .local/dev.env

# The demo app: web/ and its backend, on the app's origin (billing-api's CORS and redirects allow it). Its
# script is bundled first (web/dist/, with the TypeScript client and React: scripts/build-web.sh).
scripts/build-web.sh
app_port=${app_origin##*:}
[[ $app_port =~ ^[0-9]+$ ]] || app_port=80
if [[ -n "$jwks_url" && -n "$issuer" ]]; then
  start_fake scripts/demo_server.py --port "$app_port" --app-origin "$app_origin" \
    --billing-api "$functions/billing-api" --usage-api "$functions/usage-api" --usage-key "${usage_key%%,*}" \
    --clerk-jwks-url "$jwks_url" --clerk-issuer "$issuer" --clerk-sign-in-url "$sign_in_url" \
    ${fake_clerk_pid:+--clerk-frontend-api "$clerk_base"} \
    ${fake_stripe_pid:+--stripe-clock "$stripe_base/__fake/clock/advance"}
  demo_pid=$fake_pid
  app_line="Open $app_origin — the demo app: sign up, subscribe, change plan, use credits$([[ -z "$fake_stripe_pid" ]] || echo ", advance the clock")"
else
  app_line="(no demo app: it needs Clerk's sign-in — set CLERK_JWKS_URL, CLERK_ISSUER and CLERK_SIGN_IN_URL)"
fi

cat <<MSG

  $app_line

  Entitle is running locally.

  Stripe webhook   POST http://127.0.0.1:$invoke_port/lambda-url/stripe-webhook/webhooks/stripe
                   signing secret $LOCAL_STRIPE_WEBHOOK_SECRET
  Clerk webhook    POST http://127.0.0.1:$invoke_port/lambda-url/clerk-webhook/webhooks/clerk
                   signing secret $LOCAL_CLERK_WEBHOOK_SECRET
  Usage API        POST http://127.0.0.1:$invoke_port/lambda-url/usage-api/v1/check     {"userId","feature","amount"}
                   POST http://127.0.0.1:$invoke_port/lambda-url/usage-api/v1/usage     {"userId","feature","amount","idempotencyKey"}
                   API key (Authorization: Bearer) $usage_key
  Billing API      POST http://127.0.0.1:$invoke_port/lambda-url/billing-api/checkout   {"price","successUrl","cancelUrl"}
                   POST http://127.0.0.1:$invoke_port/lambda-url/billing-api/portal     {"returnUrl"}
                   GET  http://127.0.0.1:$invoke_port/lambda-url/billing-api/entitlements
                   redirects and CORS allowed for $app_origin
$([[ -z "${demo_token:-}" ]] || printf '  Signed-in token  (%s, 24 h; %s) - paste into the other terminal:\n    export TOKEN=%s' "$demo_user" "$token_kind" "$demo_token")
  Processor        entitlement-processor, fed by scripts/bridge.py: entitlement queue -> SQS event ->
                   POST http://127.0.0.1:$invoke_port/2015-03-31/functions/entitlement-processor/invocations
                   (one "bridge:" line per batch below; dead letters go to $ENTITLEMENT_DLQ_URL)
  Stripe API       $stripe_base$([[ -z "$stripe_portal_configuration" ]] || echo "  (portal configuration $stripe_portal_configuration)")
  Clerk API        $clerk_base$([[ -z "$fake_clerk_pid" ]] || echo "  (local stand-in: $fixture_user and who signs up)")
$([[ -z "$fake_clerk_pid" ]] || echo "  Clerk sign-in    $clerk_base/sign-in?redirect_url=$app_origin/  (JWKS $jwks_url)")
  Local AWS        $AWS_ENDPOINT_URL  (topic $BILLING_EVENTS_TOPIC_ARN)

  Try it (another terminal):
    make send-clerk EVENT=user.created                       # a Svix-signed sign-up: creates the Stripe customer
    make send-stripe EVENT=customer.subscription.created    # a signed fixture, no Stripe account needed
    make events                                              # what is waiting in the entitlement queue
    curl -s -H "authorization: Bearer \$TOKEN" \\
      http://127.0.0.1:$invoke_port/lambda-url/billing-api/entitlements   # Starter, once the bridge has fed the processor
    curl -s -H "authorization: Bearer \$TOKEN" -d '{"price":"starter_monthly","successUrl":"$app_origin/ok","cancelUrl":"$app_origin/no"}' \\
      http://127.0.0.1:$invoke_port/lambda-url/billing-api/checkout
  Real test-mode events:
    stripe listen --forward-to localhost:$invoke_port/lambda-url/stripe-webhook/webhooks/stripe
    then restart with STRIPE_WEBHOOK_SECRET=<the whsec_ it prints> make dev

  The first request compiles the function; later edits rebuild it. Ctrl-C stops everything.

MSG
# Once watch answers on its invoke port: .local/dev-ready, then the bridge (cleanup stops it).
(
  until (exec 3<>/dev/tcp/127.0.0.1/$invoke_port) 2>/dev/null; do sleep 0.5; done
  {
    echo "APP_URL=$app_origin"
    echo "STRIPE_BASE=$stripe_base"
    echo "CLERK_BASE=$clerk_base"
    echo "USAGE_API_KEY=${usage_key%%,*}"
    echo "BILLING_API=$functions/billing-api"
    echo "USAGE_API=$functions/usage-api"
  } > "$ready_file.tmp"
  mv "$ready_file.tmp" "$ready_file"
  exec .venv/bin/python scripts/bridge.py --env-file "$aws_env" \
    --invoke-url "http://127.0.0.1:$invoke_port/2015-03-31/functions/entitlement-processor/invocations"
) &
bridge_pid=$!
cargo lambda watch --env-file .local/dev.env --invoke-address 127.0.0.1 --invoke-port "$invoke_port"
