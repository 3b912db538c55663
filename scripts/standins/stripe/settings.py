"""The local Stripe's settings: the command line's (set once by server.main(), read as `settings.NAME` when used)
and its constants."""

LATENCY_S = 0.0  # --latency-ms: added to every /v1 request
# Every event's `api_version`: the version Entitle pins its requests and webhook endpoint to (STRIPE_VERSION in
# crates/core/src/stripe/client.rs; scripts/test_fake_stripe.py keeps the two equal). The fields Entitle reads
# are the same from 2025-03-31.basil to it (periods on items, invoice `parent`).
API_VERSION = "2026-09-30.endive"
BASE_URL = ""  # http://127.0.0.1:PORT, set by main()
HOSTED_PAGES = False  # --hosted-pages: Checkout and portal `url`s point at this fake's own pages
BUSINESS_NAME = "Local test business"  # --business-name: the account's public name, on the hosted pages
RETRY_SCALE = 1.0  # --retry-scale: multiplies the delivery backoff (1 s, 2 s, 4 s, ... capped at 30 s)
MAX_ATTEMPTS = 8
CHAOS = False  # --chaos: every event delivered twice, in an order shuffled within CHAOS_WINDOW_S
CHAOS_WINDOW_S = 0.3  # --chaos-window: how late a chaos delivery may be, at most
DELIVERY_WORKERS = 1  # --delivery-workers: concurrent deliveries per target
DELIVERY_TIMEOUT_S = 10  # Stripe's own webhook timeout
RETRY_DAYS = [3, 5, 7]  # --retry-days: dunning retries, each this many days after the previous attempt
DUNNING_FINAL = "canceled"  # --dunning-final: what a subscription becomes after its last failed retry
DAY = 86400
