"""The local Stripe's settings: the command line's (set once by server.main(), read as `settings.NAME` when used)
and its constants."""

LATENCY_S = 0.0  # --latency-ms: added to every /v1 request
API_VERSION = "2025-08-27.basil"  # the shapes the fake's objects model (periods on items, invoice `parent`)
BASE_URL = ""  # http://127.0.0.1:PORT, set by main()
HOSTED_PAGES = False  # --hosted-pages: Checkout and portal `url`s point at this fake's own pages
RETRY_SCALE = 1.0  # --retry-scale: multiplies the delivery backoff (1 s, 2 s, 4 s, ... capped at 30 s)
MAX_ATTEMPTS = 8
CHAOS = False  # --chaos: every event delivered twice, in an order shuffled within CHAOS_WINDOW_S
CHAOS_WINDOW_S = 0.3  # --chaos-window: how late a chaos delivery may be, at most
DELIVERY_WORKERS = 1  # --delivery-workers: concurrent deliveries per target
DELIVERY_TIMEOUT_S = 10  # Stripe's own webhook timeout
RETRY_DAYS = [3, 5, 7]  # --retry-days: dunning retries, each this many days after the previous attempt
DUNNING_FINAL = "canceled"  # --dunning-final: what a subscription becomes after its last failed retry
DAY = 86400
