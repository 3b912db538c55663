"""The local Stripe's HTTP side and command line (scripts/fake_stripe.py runs `main`): the hosted pages, the
control API and the /v1 API on one port."""

from __future__ import annotations

import os
from html import escape

from .. import stripe
from ..http import StandinHandler, arg_parser, form_last, serve
from . import settings
from .api import api
from .control import control
from .events import REQUEST
from .forms import decode_form
from .pages import html_page, page_request
from .state import LOCK, STATE, StripeError


class Handler(StandinHandler):
    server_version = "fake-stripe"
    lock = LOCK

    def handle_request(self, method: str, url, raw: str) -> None:
        if url.path.startswith(("/checkout/", "/portal/")) and method in ("GET", "POST"):
            form = form_last(raw) if method == "POST" else {}
            with LOCK:
                REQUEST.update(id=None, idempotency_key=None)
                try:
                    status, html, location = page_request(method, url.path, form)
                except Exception as e:  # a bug in the fake: say so on the page
                    status, html, location = 500, html_page("Error (fake Stripe)",
                                                            f"<h1>Error</h1><pre>{escape(repr(e))}</pre>"), None
            return self.reply(status, html, {"Location": location} if location else {}, "text/html; charset=utf-8")
        if url.path.startswith("/__fake/"):
            # A control call refused as the API would (POST /__fake/portal/default) answers Stripe's error.
            return self.reply(*self.control_answer(control, method, url.path, raw, refused=(StripeError,)), {})
        params = decode_form(url.query)
        if method in ("POST", "DELETE"):  # Stripe reads a DELETE's form body too (cancel's prorate, invoice_now)
            params.update(decode_form(raw))
        record = {"method": method, "path": url.path, "query": url.query, "params": params,
                  "idempotencyKey": self.headers.get("Idempotency-Key"), "status": None, "replayed": False}
        with LOCK:
            STATE.requests.append(record)
        status, text, extra = api(method, url.path, params, self.headers, record)
        with LOCK:
            record["status"] = status
        self.reply(status, text, extra)

    do_GET = do_POST = do_DELETE = StandinHandler.do_request


def main() -> None:
    parser = arg_parser(stripe.__doc__.splitlines()[0])
    parser.add_argument("--hosted-pages", action="store_true",
                        default=os.environ.get("FAKE_STRIPE_HOSTED_PAGES", "") not in ("", "0", "false"),
                        help="Checkout and portal sessions' `url` point at this fake's pages "
                             "(/checkout/{id}, /portal/{id}) instead of checkout.stripe.com / billing.stripe.com "
                             "(also FAKE_STRIPE_HOSTED_PAGES=1); the pages are served either way")
    parser.add_argument("--retry-scale", type=float, default=1.0,
                        help="multiplies the webhook retry backoff (1 s, 2 s, 4 s, ... capped at 30 s)")
    parser.add_argument("--max-attempts", type=int, default=8, help="delivery attempts per event and target")
    parser.add_argument("--chaos", action="store_true",
                        help="deliver every event twice, shuffled within short windows")
    parser.add_argument("--chaos-window", type=float, default=settings.CHAOS_WINDOW_S,
                        help="with --chaos, each delivery is delayed by up to this many seconds")
    parser.add_argument("--delivery-workers", type=int, default=1,
                        help="concurrent deliveries per target (1: one at a time, in order)")
    parser.add_argument("--retry-days", default="3,5,7",
                        help="failed renewal retries, each this many days after the previous attempt")
    parser.add_argument("--dunning-final", choices=("canceled", "unpaid"), default="canceled",
                        help="what a subscription becomes after its last failed retry")
    parser.add_argument("--business-name", default=settings.BUSINESS_NAME,
                        help="the account's public business name, shown on the hosted pages")
    args = parser.parse_args()
    settings.BUSINESS_NAME = args.business_name
    settings.LATENCY_S = args.latency_ms / 1000
    settings.RETRY_SCALE, settings.MAX_ATTEMPTS, settings.CHAOS = (args.retry_scale, max(1, args.max_attempts),
                                                                   args.chaos)
    settings.CHAOS_WINDOW_S, settings.DELIVERY_WORKERS = max(0.0, args.chaos_window), max(1, args.delivery_workers)
    settings.RETRY_DAYS = [float(x) for x in args.retry_days.split(",") if x.strip()]
    settings.DUNNING_FINAL, settings.HOSTED_PAGES = args.dunning_final, args.hosted_pages

    def started(base_url: str) -> None:
        settings.BASE_URL = base_url

    serve(Handler, args.port, started)
