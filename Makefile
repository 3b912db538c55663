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

.PHONY: help venv dev test fmt-check clippy cfn-lint actionlint openapi test-rust bench build send-stripe send-clerk events deploy

help:
	@echo "make dev          run everything locally (local AWS from the template + cargo lambda watch)"
	@echo "make test         every check CI runs: fmt, clippy, unit + integration tests, cfn-lint"
	@echo "make send-stripe EVENT=customer.subscription.created   post a signed fixture to 'make dev'"
	@echo "make send-clerk EVENT=user.created                     post a Svix-signed Clerk fixture to 'make dev'"
	@echo "make events       print the billing events that reached the entitlement queue under 'make dev'"
	@echo "make bench        criterion benchmarks, release arm64 zip size, cold init"
	@echo "make build        release arm64 Lambda binaries (cargo lambda)"
	@echo "make deploy       sam build && sam deploy (needs the SAM CLI and AWS credentials)"

venv:
	@scripts/bootstrap-venv.sh

test: venv fmt-check clippy cfn-lint actionlint openapi test-rust demo

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets --locked -- -D warnings

cfn-lint: venv
	$(VENV)/bin/cfn-lint infra/template.yaml

actionlint: venv
	$(VENV)/bin/actionlint

# The OpenAPI 3.1 document of billing-api and usage-api; test-rust also checks every recorded response against it.
openapi: venv
	$(VENV)/bin/openapi-spec-validator docs/openapi.yaml

test-rust: venv
	rm -rf .local/samples
	SAMPLES_DIR=$(CURDIR)/.local/samples scripts/with-local-aws.sh cargo test --workspace --locked
	$(PY) scripts/check_samples.py .local/samples

# A customer's life through the four functions in-process (local AWS, fake Stripe and Clerk), checked step by step.
.PHONY: demo
demo: venv
	scripts/with-local-aws.sh cargo run --locked -p entitle-demo

dev: venv
	@scripts/dev.sh

send-stripe: venv
	@source .local/dev-secrets.env && $(PY) scripts/send_stripe.py --url "$(DEV_URL)" \
	  --secret "$$LOCAL_STRIPE_WEBHOOK_SECRET" --event "$(EVENT)"

send-clerk: venv
	@source .local/dev-secrets.env && $(PY) scripts/send_clerk.py --url "$(DEV_CLERK_URL)" \
	  --secret "$$LOCAL_CLERK_WEBHOOK_SECRET" --event "$(or $(filter user.%,$(EVENT)),user.created)"

events: venv
	@$(PY) scripts/local_aws.py peek --env-file .local/dev-aws.env

bench: venv
	@scripts/bench.sh

build: venv
	cargo lambda build --release --arm64 --output-format zip \
	  -p stripe-webhook -p clerk-webhook -p billing-api -p entitlement-processor -p usage-api

deploy:
	sam build && sam deploy
