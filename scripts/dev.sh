#!/usr/bin/env bash
# `make dev`: a local AWS built from infra/template.yaml, then every function under `cargo lambda watch`.
# Stops the local AWS when watch exits (Ctrl-C).
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
cleanup() {
  [[ -n "$fake_stripe_pid" ]] && kill "$fake_stripe_pid" 2>/dev/null
  .venv/bin/python scripts/local_aws.py stop --env-file "$aws_env" || true
}
trap cleanup EXIT
.venv/bin/python scripts/local_aws.py stop --env-file "$aws_env" >/dev/null 2>&1 || true
.venv/bin/python scripts/local_aws.py start --env-file "$aws_env"
source "$aws_env"

# Stripe's API: your test-mode key when STRIPE_SECRET_KEY is set, else the local stand-in.
if [[ -n "${STRIPE_SECRET_KEY:-}" ]]; then
  stripe_key=$STRIPE_SECRET_KEY
  stripe_base=${STRIPE_API_BASE:-https://api.stripe.com}
else
  coproc FAKE_STRIPE { exec .venv/bin/python scripts/fake_stripe.py --port 0; }
  fake_stripe_pid=$FAKE_STRIPE_PID
  read -r line <&"${FAKE_STRIPE[0]}"
  stripe_key=sk_test_entitle_local
  stripe_base="http://127.0.0.1:${line##* }"
  .venv/bin/python scripts/seed_fake_stripe.py --base "$stripe_base"
fi

# billing-api: Clerk's JWKS when CLERK_JWKS_URL is set, else HS256 tokens signed with a local secret.
app_origin=${APP_ORIGIN:-http://localhost:3000}
demo_user=user_local_demo
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

# cargo lambda watch reads plain KEY=VALUE lines.
{
  for name in AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION IDEMPOTENCY_TABLE \
    CUSTOMERS_TABLE ENTITLEMENTS_TABLE BILLING_EVENTS_TOPIC_ARN; do
    echo "$name=${!name}"
  done
  echo "STRIPE_WEBHOOK_SECRET=$stripe_secrets"
  echo "CLERK_WEBHOOK_SECRET=$LOCAL_CLERK_WEBHOOK_SECRET${CLERK_WEBHOOK_SECRET:+,$CLERK_WEBHOOK_SECRET}"
  echo "STRIPE_SECRET_KEY=$stripe_key"
  echo "STRIPE_API_BASE=$stripe_base"
  echo "ALLOWED_REDIRECT_ORIGINS=$app_origin"
  echo "ALLOWED_ORIGINS=$app_origin"
  if [[ -n "${CLERK_JWKS_URL:-}" ]]; then
    echo "CLERK_JWKS_URL=$CLERK_JWKS_URL"
    echo "CLERK_ISSUER=${CLERK_ISSUER:-}"
  else
    echo "JWT_SECRET=$LOCAL_JWT_SECRET"
  fi
  echo "RUST_LOG=${RUST_LOG:-info}"
} > .local/dev.env

cat <<MSG

  Entitle is running locally.

  Stripe webhook   POST http://127.0.0.1:9000/lambda-url/stripe-webhook/webhooks/stripe
                   signing secret $LOCAL_STRIPE_WEBHOOK_SECRET
  Clerk webhook    POST http://127.0.0.1:9000/lambda-url/clerk-webhook/webhooks/clerk
                   signing secret $LOCAL_CLERK_WEBHOOK_SECRET
  Billing API      POST http://127.0.0.1:9000/lambda-url/billing-api/checkout   {"price","successUrl","cancelUrl"}
                   POST http://127.0.0.1:9000/lambda-url/billing-api/portal     {"returnUrl"}
                   GET  http://127.0.0.1:9000/lambda-url/billing-api/entitlements
                   redirects and CORS allowed for $app_origin
  Signed-in token  ($demo_user, 24 h; HS256 with the local JWT secret)
                   $demo_token
  Stripe API       $stripe_base
  Local AWS        $AWS_ENDPOINT_URL  (topic $BILLING_EVENTS_TOPIC_ARN)

  Try it (another terminal):
    make send-clerk EVENT=user.created                       # a Svix-signed sign-up: creates the Stripe customer
    make send-stripe EVENT=customer.subscription.created    # a signed fixture, no Stripe account needed
    make events                                              # what reached the entitlement queue
    curl -s -H "authorization: Bearer $demo_token" \\
      http://127.0.0.1:9000/lambda-url/billing-api/entitlements
    curl -s -H "authorization: Bearer $demo_token" -d '{"price":"starter_monthly","successUrl":"$app_origin/ok","cancelUrl":"$app_origin/no"}' \\
      http://127.0.0.1:9000/lambda-url/billing-api/checkout
  Real test-mode events:
    stripe listen --forward-to localhost:9000/lambda-url/stripe-webhook/webhooks/stripe
    then restart with STRIPE_WEBHOOK_SECRET=<the whsec_ it prints> make dev

  The first request compiles the function; later edits rebuild it. Ctrl-C stops everything.

MSG
cargo lambda watch --env-file .local/dev.env --invoke-address 127.0.0.1 --invoke-port 9000
