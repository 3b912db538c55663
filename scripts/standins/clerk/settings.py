"""The local Clerk's settings: the command line's (set once by server.main(), read as `settings.NAME` when used)
and its constants."""

LATENCY_S = 0.0  # --latency-ms: added to every /v1 request
SESSION_TTL_S = 24 * 3600
BASE_URL = ""  # http://127.0.0.1:<port>, set in main(): the session tokens' `iss`
WEBHOOK = {"url": None, "secret": None}  # where Clerk's webhooks go (--webhook-url, --webhook-secret)
