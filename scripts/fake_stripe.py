#!/usr/bin/env python3
"""A local fake of the Stripe API, for tests only (never point production at it).

    python3 scripts/fake_stripe.py --port 0 [--latency-ms N] [--hosted-pages] [--retry-scale F] [--chaos]
                                   [--max-attempts N] [--retry-days 3,5,7] [--dunning-final canceled|unpaid]

Binds 127.0.0.1 (port 0 = any free port) and prints `listening on <port>` as its first stdout line. The code
under test talks to it exactly as to https://api.stripe.com (STRIPE_API_BASE): form-encoded bodies with
nested keys (`metadata[k]=v`, `line_items[0][price]=p`, `expand[]=x`), `Authorization: Bearer sk_test_...`,
JSON answers shaped like the 2025 "basil" API objects, Stripe's error shape and statuses, and Stripe's
idempotency (replay with `Idempotent-Replayed: true`, 400 `idempotency_error` on a key reused with other
params or another endpoint, 409 while the first request with the key is still running).

Covered: customers (create, retrieve, update, delete, search by one metadata equality), subscriptions
(retrieve, list, update — cancel_at_period_end, an item's price with `proration_behavior`; `cancel_at` is
refused — cancel with `prorate`/`invoice_now`, which also cancels the subscription's schedule), invoice previews
(`/v1/invoices/create_preview` of an existing `subscription` with `subscription_details[items]` (`[id]` +
`[price]`) and `[proration_behavior]`; or, without `subscription`, of creating one for `customer` with
`subscription_details[items][i][price]` (+ `[quantity]`, default 1) starting at `subscription_details[start_date]`
(default now, may be in the future: then `next_payment_attempt` is that date), one unprorated line per item over
one interval of its price; refused: an unknown customer or price, mixed currencies, a one-time price, neither
`subscription` nor `customer`, `start_date` with `subscription`), checkout sessions (create, retrieve, line
items), subscription schedules (POST /v1/subscription_schedules `from_subscription` only, GET|POST
/v1/subscription_schedules/{id} — `phases[i][items][j][price|quantity]`, `[start_date]`, `[end_date]`,
`end_behavior`, `metadata` — POST /v1/subscription_schedules/{id}/release; at a phase boundary the test clock
makes the subscription's items exactly the phase's: a price that stays keeps its item id, new prices get new
items, others are removed; past the last phase `release` or `cancel`; cancel_at_period_end / cancel_at on a
scheduled subscription are refused as Stripe does).
  billing portal      POST /v1/billing_portal/sessions (`customer`, `return_url`, `configuration`): a fresh
                      account has NO default configuration, so without `configuration` it is a 400 ("No
                      configuration provided and your test mode default configuration has not been created...")
                      until one is saved (POST /__fake/portal/default); a given `configuration` must exist (400
                      resource_missing, param `configuration`) and be active; the session's `configuration` is
                      the one used. POST|GET /v1/billing_portal/configurations (create makes a NON-default one,
                      `is_default: false`; list filters `is_default`, `active`), GET|POST
                      /v1/billing_portal/configurations/{id} (`features`, `metadata`, `default_return_url`,
                      `active`).
State lives in memory behind one lock.

The catalog, shaped like the 2026-09-30 API reference (lists newest first, with `limit`, `starting_after`,
`ending_before` and `has_more`):
  products            POST /v1/products (`id` of the caller's choosing optional, `name`, `active`, `description`,
                      `metadata`, ...), GET|POST /v1/products/{id}, GET /v1/products (`active`, `ids[]`).
  prices              POST /v1/prices (an existing `product`, `currency`, `unit_amount`, `recurring[interval]`,
                      `[interval_count]`, `[usage_type]`, `[meter]` — an active meter, required when metered —
                      `transform_quantity[divide_by|round]`,
                      `lookup_key` + `transfer_lookup_key`, `nickname`, `metadata`, `active`, `tax_behavior`),
                      GET /v1/prices/{id}, POST /v1/prices/{id} (`active`, `metadata`, `nickname`, `lookup_key`,
                      `transfer_lookup_key`, `tax_behavior`), GET /v1/prices (`lookup_keys[]`, `product`, `active`,
                      `type`, `currency`, `recurring[...]`). A created price works wherever a seeded one does.
  entitlements        POST|GET /v1/entitlements/features (list: `lookup_key`, `archived`; archived features are
                      listed only with `archived=true`), GET|POST /v1/entitlements/features/{id} (`name`,
                      `metadata`, `active=false` archives); POST|GET /v1/products/{id}/features
                      (`entitlement_feature`), GET|DELETE /v1/products/{id}/features/{prodft_id}.
  billing meters      POST|GET /v1/billing/meters (list: `status`), GET|POST /v1/billing/meters/{id}
                      (`display_name`), POST /v1/billing/meters/{id}/deactivate|reactivate; POST
                      /v1/billing/meter_events (checked at once, where Stripe defers some checks to its meter
                      error reports: an active meter, an existing customer, a whole-number value, an unused
                      `identifier`).
`expand[]` resolves customers, prices, products, subscriptions, subscription schedules, checkout sessions,
portal configurations and features by id.

Control API for tests (no auth, JSON): POST /__fake/fail, GET /__fake/requests, GET /__fake/customers,
POST /__fake/customers, POST /__fake/prices, POST /__fake/subscriptions, GET /__fake/meter_events (every
accepted `billing.meter_event`, in arrival order), POST /__fake/portal/default, POST /__fake/reset. See
`control` below.
  POST /__fake/fail   {"count": 1, "status": 500, "method": "POST" (optional: any method), and at most one of
                      "path" (the exact path), "path_regex" (a Python regex the WHOLE path must match) or
                      "path_prefix" (the path starts with it; the default, "/v1", fails any request)}: the next
                      `count` /v1 requests matching it answer `status` with Stripe's error body (402 card_error,
                      429 rate_limit, 5xx api_error) and change nothing; 429 and 5xx are not stored under the
                      idempotency key. Paths never include the query string. A prefix also matches every longer
                      path: "/v1/subscription_schedules" fails the create AND every update and release, and
                      "/v1/subscription_schedules/sub_sched_X" the update AND its /release. So, to fail only:
                        any schedule's update  {"method": "POST", "path_regex": "/v1/subscription_schedules/[^/]+"}
                        one schedule's update  {"method": "POST", "path": "/v1/subscription_schedules/sub_sched_X"}
                        any release            {"method": "POST",
                                                "path_regex": "/v1/subscription_schedules/[^/]+/release"}
                        one release            {"method": "POST",
                                                "path": "/v1/subscription_schedules/sub_sched_X/release"}
                        the create             {"method": "POST", "path": "/v1/subscription_schedules"}
  POST /__fake/portal/default  saves the Dashboard's portal settings: creates the account's default
                      configuration (`is_default: true`; invoice history, payment method update, customer email
                      and address update, cancel at period end; no plan switching) the first time, updates it
                      after; the body may override fields in the API's shape as JSON ({"features":
                      {"subscription_update": {"enabled": true, "products": [{"product", "prices": [...]}]}},
                      "metadata": {...}, "default_return_url": "..."}). Answers the configuration.

Stateful like Stripe (one state machine behind the API, the pages and the clock):
  hosted Checkout     GET|POST /checkout/{session id}: the line items, the total, a card input `#card`
                      (4242 4242 4242 4242 pays; 4000 0000 0000 0002 is declined at once; 4000 0000 0000 0341
                      attaches but every charge fails), buttons `#pay`, `#decline`, `#back` (303 to cancel_url).
                      Paying creates what Stripe creates (subscription + paid `subscription_create` invoice +
                      payment intent, or a succeeded payment intent) and answers 303 to success_url.
  billing portal      GET|POST /portal/{portal session id}: the live subscription, `button[data-price=<lookup
                      key>]` per other recurring price the session's configuration offers (its
                      `subscription_update` products and prices; none when disabled; prorated switch), `#cancel`
                      (when `subscription_cancel` is enabled) / `#resume`, `#card-failing` / `#card-ok` (new
                      default card; when `payment_method_update` is enabled), `#pay-invoice` (an open invoice),
                      `a#return`.
  Sessions' `url` point at those pages with --hosted-pages (or FAKE_STRIPE_HOSTED_PAGES=1); without it they keep
  the checkout.stripe.com / billing.stripe.com shapes the Rust tests check (the pages are served either way).
  events              every state change is an Event (GET /v1/events, /v1/events/{id}, GET /__fake/events),
                      delivered like `stripe listen` to each target of POST /__fake/listen {"url", "secret"}:
                      a worker per target, in order, signed `Stripe-Signature: t=..,v1=..`, non-2xx or
                      connection errors retried after 1, 2, 4 ... (max 30) s x --retry-scale, --max-attempts (8)
                      in all; every attempt is logged to stderr and listed at GET /__fake/deliveries.
  test clock          GET /__fake/clock; POST /__fake/clock/advance {"days", "seconds"} moves `now()` and runs
                      what falls due, in time order: trial_will_end (3 days before), renewals (a
                      `subscription_cycle` invoice charged to the card), dunning retries (--retry-days after each
                      failed attempt, then --dunning-final), period-end cancellations, session expiry.
  also                GET /v1/invoices, /v1/invoices/{id}, POST /v1/invoices/{id}/pay, GET /v1/payment_intents/{id},
                      GET /v1/payment_methods/{id}.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import heapq
import hmac
import itertools
import json
import os
import random
import re
import socket
import string
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

ALPHANUMERIC = string.ascii_letters + string.digits
LOCK = threading.Lock()
LATENCY_S = 0.0
SUPPORT = "Please see https://stripe.com/docs or we can help at https://support.stripe.com/."


def new_id(prefix: str, length: int = 14) -> str:
    return prefix + "".join(random.choices(ALPHANUMERIC, k=length))


CLOCK_OFFSET = 0  # seconds the test clock (POST /__fake/clock/advance) has moved the fake ahead of real time


def now() -> int:
    """The fake's time: real time plus the test clock's offset (every timestamp the fake writes reads it)."""
    return int(time.time()) + CLOCK_OFFSET


class StripeError(Exception):
    """An error answered in Stripe's shape: {"error": {"type", "code", "message", "param", ...}}."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", code=None, param=None,
                 **extra):
        super().__init__(message)
        self.status = status
        self.error = {"type": type_, "message": message, **extra}
        if code:
            self.error["code"] = code
            self.error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param:
            self.error["param"] = param


def no_such(kind: str, id_: str, param: str = "id", status: int = 404) -> StripeError:
    return StripeError(status, f"No such {kind}: '{id_}'", code="resource_missing", param=param)


def missing_param(param: str) -> StripeError:
    return StripeError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)


def injected_error(status: int) -> StripeError:
    if status == 402:
        return StripeError(402, "Your card was declined.", "card_error", code="card_declined",
                           decline_code="generic_decline")
    if status == 429:
        return StripeError(429, "Request rate limit exceeded. Learn more about rate limits here "
                                "https://stripe.com/docs/rate-limits.", code="rate_limit")
    if status >= 500:
        return StripeError(status, "An unknown error occurred (injected by the fake).", "api_error")
    return StripeError(status, f"Injected failure with status {status}.")


# ---------------------------------------------------------------- form decoding

def decode_form(text: str) -> dict:
    """`a[b][0][c]=x&e[]=y` -> {"a": {"b": [{"c": "x"}]}, "e": ["y"]}; values stay strings, as Stripe's."""
    root: dict = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        head, _, rest = key.partition("[")
        path = [head] + (re.findall(r"\[?([^\[\]]*)\]", rest) if rest else [])
        node = root
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        last = path[-1] if path[-1] != "" else str(len(node))
        node[last] = value
    return listify(root)


def listify(node, key: str = ""):
    if not isinstance(node, dict):
        return node
    items = {k: listify(v, k) for k, v in node.items()}
    if key != "metadata" and items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def as_bool(params: dict, name: str):
    value = params.get(name)
    if value is None or value in ("true", "false"):
        return None if value is None else value == "true"
    raise StripeError(400, f"Invalid boolean: {value}", param=name)


def as_int(value, param: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StripeError(400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param)


def merge_metadata(current: dict, update) -> dict:
    """Stripe's rules: keys merge, an empty value deletes its key, `metadata=` (empty) clears everything."""
    if update is None:
        return current
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise StripeError(400, "Invalid object", param="metadata")
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def page_limit(params: dict) -> int:
    return min(max(as_int(params.get("limit", 10), "limit"), 1), 100)


def list_object(url: str, items: list, params: dict) -> dict:
    limit = page_limit(params)
    return {"object": "list", "data": items[:limit], "has_more": len(items) > limit, "url": url}


def page(url: str, items: list, params: dict, kind: str, keep=None) -> dict:
    """A list answer over `items` (newest first) with Stripe's cursors: `starting_after` / `ending_before`
    name an object of `items` (even one that `keep` filters out), `limit` caps the page, `has_more` says
    whether more lie beyond it in the direction of travel."""
    after, before = params.get("starting_after"), params.get("ending_before")
    if after is not None and before is not None:
        raise StripeError(400, "You may only specify one of these parameters: ending_before, starting_after.",
                          param="ending_before")
    position = {x["id"]: i for i, x in enumerate(items)}
    for param, cursor in (("starting_after", after), ("ending_before", before)):
        if cursor is not None and cursor not in position:
            raise no_such(kind, cursor, param, 400)
    kept = [(i, x) for i, x in enumerate(items) if keep is None or keep(x)]
    limit = page_limit(params)
    if before is not None:
        kept = [x for i, x in kept if i < position[before]]
        return {"object": "list", "data": kept[-limit:], "has_more": len(kept) > limit, "url": url}
    kept = [x for i, x in kept if after is None or i > position[after]]
    return {"object": "list", "data": kept[:limit], "has_more": len(kept) > limit, "url": url}


# ---------------------------------------------------------------- state

class State:
    def __init__(self):
        self.customers: dict = {}
        self.deleted: set = set()
        self.prices: dict = {}
        self.subscriptions: dict = {}
        self.sessions: dict = {}
        self.schedules: dict = {}
        self.line_items: dict = {}
        self.products: dict = {}
        self.features: dict = {}
        self.product_features: dict = {}  # attachment id -> {"id", "product", "feature"}
        self.meters: dict = {}
        self.meter_events: list = []  # accepted billing.meter_event objects, in arrival order
        self.meter_identifiers: set = set()
        self.idempotency: dict = {}
        self.failures: list = []
        self.requests: list = []
        self.webhook_endpoints: dict = {}
        # None at first, as on a fresh Stripe account: the default one exists once the Dashboard's portal
        # settings are saved (POST /__fake/portal/default); the API creates only non-default ones.
        self.portal_configurations: dict = {}
        self.portal_sessions: dict = {}
        self.session_extras: dict = {}  # checkout session id -> what paying it needs (subscription_data, ...)
        self.invoices: dict = {}
        self.payment_intents: dict = {}
        self.payment_methods: dict = {}
        self.events: list = []  # every Event object, oldest first
        self.targets: dict = {}  # url -> {"url", "secret"}: where events are delivered (POST /__fake/listen)
        self.deliveries: list = []  # every delivery attempt, in the order made

    def customer(self, id_: str, param: str = "id", status: int = 404) -> dict:
        if id_ not in self.customers or id_ in self.deleted:
            raise no_such("customer", id_, param, status)
        return self.customers[id_]

    def take_failure(self, method: str, path: str):
        """The injected error of the first rule (POST /__fake/fail) matching this request, used up once."""
        for rule in self.failures:
            if rule["method"] not in (None, method):
                continue
            if "path" in rule:
                matched = path == rule["path"]
            elif "path_regex" in rule:
                matched = rule["path_regex"].fullmatch(path) is not None
            else:
                matched = path.startswith(rule["path_prefix"])
            if matched:
                rule["count"] -= 1
                if rule["count"] <= 0:
                    self.failures.remove(rule)
                return injected_error(rule["status"])
        return None


STATE = State()


# ---------------------------------------------------------------- objects

def price_object(d: dict) -> dict:
    recurring = d.get("recurring", {"interval": "month"})
    if recurring is not None:
        recurring = {"interval": recurring.get("interval", "month"),
                     "interval_count": recurring.get("interval_count", 1), "meter": None,
                     "trial_period_days": recurring.get("trial_period_days"),
                     "usage_type": recurring.get("usage_type", "licensed")}
    amount = d.get("unit_amount")
    return {"id": d.get("id") or new_id("price_", 24), "object": "price", "active": d.get("active", True),
            "billing_scheme": "per_unit", "created": now(), "currency": d.get("currency", "usd"),
            "custom_unit_amount": None, "livemode": False, "lookup_key": d.get("lookup_key"),
            "metadata": d.get("metadata") or {}, "nickname": d.get("nickname"),
            "product": d.get("product") or new_id("prod_"), "recurring": recurring,
            "tax_behavior": "unspecified", "tiers_mode": None, "transform_quantity": None,
            "type": "recurring" if recurring else "one_time", "unit_amount": amount,
            "unit_amount_decimal": None if amount is None else str(amount)}


def plan_object(price: dict) -> dict:
    """The legacy `plan` Stripe still returns beside each subscription item's `price`, built from that price."""
    recurring = price["recurring"] or {"interval": "month", "interval_count": 1, "meter": None,
                                       "usage_type": "licensed"}
    return {"id": price["id"], "object": "plan", "active": price["active"], "amount": price["unit_amount"],
            "amount_decimal": price["unit_amount_decimal"], "billing_scheme": price["billing_scheme"],
            "created": price["created"], "currency": price["currency"], "interval": recurring["interval"],
            "interval_count": recurring["interval_count"], "livemode": False, "metadata": price["metadata"],
            "meter": recurring.get("meter"), "nickname": price["nickname"], "product": price["product"],
            "tiers_mode": None, "transform_usage": None, "trial_period_days": recurring.get("trial_period_days"),
            "usage_type": recurring["usage_type"]}


def subscription_item(sid: str, price: dict, quantity, start: int, end: int) -> dict:
    return {"id": new_id("si_"), "object": "subscription_item", "billing_thresholds": None, "created": now(),
            "current_period_end": end, "current_period_start": start, "discounts": [], "metadata": {},
            "plan": plan_object(price), "price": copy.deepcopy(price), "quantity": quantity,
            "subscription": sid, "tax_rates": []}


def subscription_object(d: dict, lines: list) -> dict:
    """A subscription with one item per `(price, quantity)` of `lines` (they share one billing period)."""
    sid, created = d.get("id") or new_id("sub_", 24), now()
    end = int(d.get("current_period_end") or created + 30 * 86400)
    start = int(d.get("current_period_start") or end - 30 * 86400)
    at_end, status = bool(d.get("cancel_at_period_end", False)), d.get("status", "active")
    items = [subscription_item(sid, price, quantity, start, end) for price, quantity in lines]
    price = lines[0][0]
    return {"id": sid, "object": "subscription", "application": None, "application_fee_percent": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": start, "billing_cycle_anchor_config": None,
            "billing_mode": {"flexible": None, "type": "classic"}, "billing_schedules": [],
            "billing_thresholds": None, "cancel_at": end if at_end else None, "cancel_at_period_end": at_end,
            "canceled_at": created if at_end or status == "canceled" else None,
            "cancellation_details": {"comment": None, "feedback": None,
                                     "reason": "cancellation_requested" if at_end else None},
            "collection_method": "charge_automatically", "created": created, "currency": price["currency"],
            "customer": d["customer"], "customer_account": None, "days_until_due": None,
            "default_payment_method": None, "default_source": None, "default_tax_rates": [], "description": None,
            "discounts": [], "ended_at": created if status == "canceled" else None,
            "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
            "items": {"object": "list", "data": items, "has_more": False, "total_count": len(items),
                      "url": f"/v1/subscription_items?subscription={sid}"},
            "latest_invoice": new_id("in_", 24), "livemode": False, "metadata": dict(d.get("metadata") or {}),
            "next_pending_invoice_item_invoice": None, "on_behalf_of": None, "pause_collection": None,
            "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                                 "save_default_payment_method": "off"},
            "pending_invoice_item_interval": None, "pending_setup_intent": None, "pending_update": None,
            "schedule": None, "start_date": start, "status": status, "test_clock": None, "transfer_data": None,
            # A seeded trial: `trial_end` (Unix seconds) and what Stripe does when it ends without a payment
            # method (`missing_payment_method`: create_invoice, pause or cancel).
            "trial_end": int(d["trial_end"]) if d.get("trial_end") else None,
            "trial_settings": {"end_behavior": {
                "missing_payment_method": d.get("missing_payment_method", "create_invoice")}},
            "trial_start": start if d.get("trial_end") else None}


def deleted_customer(id_: str) -> dict:
    return {"id": id_, "object": "customer", "deleted": True}


# ---------------------------------------------------------------- /v1 endpoints (run under LOCK)

def create_customer(p):
    email = p.get("email")
    if email and "@" not in email:
        raise StripeError(400, f"Invalid email address: {email}", code="email_invalid", param="email")
    customer = {"id": new_id("cus_"), "object": "customer", "address": None, "balance": 0, "created": now(),
                "currency": None, "default_source": None, "delinquent": False, "description": p.get("description"),
                "discount": None, "email": email or None, "invoice_prefix": new_id("", 8).upper(),
                "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                                     "rendering_options": None},
                "livemode": False, "metadata": merge_metadata({}, p.get("metadata")), "name": p.get("name") or None,
                "next_invoice_sequence": 1, "phone": p.get("phone") or None, "preferred_locales": [],
                "shipping": None, "tax_exempt": "none", "test_clock": None}
    STATE.customers[customer["id"]] = customer
    return customer


def api_create_customer(p):
    customer = create_customer(p)
    emit("customer.created", customer)
    return customer


def retrieve_customer(p, id_):
    return deleted_customer(id_) if id_ in STATE.deleted else STATE.customer(id_)


def update_customer(p, id_):
    customer = STATE.customer(id_)
    before = snapshot(customer)
    if isinstance(p.get("invoice_settings"), dict) and "default_payment_method" in p["invoice_settings"]:
        pm_id = p["invoice_settings"]["default_payment_method"] or None
        if pm_id is not None and pm_id not in STATE.payment_methods:
            raise no_such("PaymentMethod", pm_id, "invoice_settings[default_payment_method]", 400)
        customer["invoice_settings"]["default_payment_method"] = pm_id
    for field in ("email", "name", "description", "phone"):
        if field in p:
            customer[field] = p[field] or None
    customer["metadata"] = merge_metadata(customer["metadata"], p.get("metadata"))
    emit_updated("customer.updated", customer, before)
    return customer


def delete_customer(p, id_):
    customer = STATE.customer(id_)
    STATE.deleted.add(id_)
    emit("customer.deleted", customer)
    return deleted_customer(id_)


SEARCH = re.compile(r"""\s*metadata\[(['"])(.+?)\1\]\s*:\s*(['"])(.*)\3\s*""")


def search_customers(p):
    match = SEARCH.fullmatch(p.get("query") or "")
    if not match:
        raise StripeError(400, "The fake supports only queries of the form metadata['key']:'value'.",
                          param="query")
    key, value = match.group(2), match.group(4)
    found = [c for id_, c in STATE.customers.items()
             if id_ not in STATE.deleted and c["metadata"].get(key) == value]
    result = list_object("/v1/customers/search", found, p)
    return {**result, "object": "search_result", "next_page": None}


def list_customers(p):
    """Stripe's customer list: newest first, deleted customers left out, `email` an exact filter."""
    email = p.get("email")
    customers = [c for id_, c in reversed(list(STATE.customers.items())) if id_ not in STATE.deleted]
    return page("/v1/customers", customers, p, "customer", lambda c: email is None or c.get("email") == email)


def retrieve_price(p, id_):
    if id_ not in STATE.prices:
        raise no_such("price", id_)
    return STATE.prices[id_]


def list_prices(p):
    """Filters `lookup_keys[]`, `active`, `product`, `type`, `currency`, `recurring[interval|usage_type|meter]`;
    paginated newest first."""
    keys, active, type_ = p.get("lookup_keys"), as_bool(p, "active"), p.get("type")
    if keys is not None:
        keys = keys if isinstance(keys, list) else [keys]
    if type_ is not None and type_ not in ("one_time", "recurring"):
        raise StripeError(400, "Invalid type: must be one of one_time or recurring", param="type")
    recurring = p.get("recurring") if isinstance(p.get("recurring"), dict) else {}

    def keep(x):
        return ((keys is None or x["lookup_key"] in keys) and (active is None or x["active"] == active)
                and p.get("product") in (None, x["product"]) and type_ in (None, x["type"])
                and p.get("currency") in (None, x["currency"])
                and all(value == (x["recurring"] or {}).get(field) for field, value in recurring.items()))

    return page("/v1/prices", list(reversed(STATE.prices.values())), p, "price", keep)


def retrieve_subscription(p, id_):
    if id_ not in STATE.subscriptions:
        raise no_such("subscription", id_)
    return STATE.subscriptions[id_]


def get_subscription(p, id_):
    return public(retrieve_subscription(p, id_))


def list_subscriptions(p):
    subs, status = list(reversed(STATE.subscriptions.values())), p.get("status")
    if p.get("customer"):
        subs = [s for s in subs if s["customer"] == p["customer"]]
    if p.get("price"):
        subs = [s for s in subs if any(i["price"]["id"] == p["price"] for i in s["items"]["data"])]
    if status is None:
        subs = [s for s in subs if s["status"] != "canceled"]
    elif status == "ended":
        subs = [s for s in subs if s["status"] in ("canceled", "incomplete_expired")]
    elif status != "all":
        subs = [s for s in subs if s["status"] == status]
    return list_object("/v1/subscriptions", [public(s) for s in subs], p)


PRORATION_BEHAVIORS = ("create_prorations", "none", "always_invoice")


def proration_behavior(p: dict, param: str = "proration_behavior") -> str:
    value = p.get(param, "create_prorations")
    if value not in PRORATION_BEHAVIORS:
        raise StripeError(400, f"Invalid {param}: must be one of {', '.join(PRORATION_BEHAVIORS)}", param=param)
    return value


def item_changes(sub: dict, raw, param: str) -> list:
    """`items[i][id]` + `items[i][price]`: (index of the item, new price) pairs, checked like Stripe."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise StripeError(400, "Invalid array", param=param)
    changes = []
    for i, item in enumerate(raw):
        item = item if isinstance(item, dict) else {}
        ids = [x["id"] for x in sub["items"]["data"]]
        if item.get("id") is None:
            raise StripeError(400, "The fake supports only changing an existing item's price: pass "
                                   f"{param}[{i}][id].", param=f"{param}[{i}][id]")
        if item["id"] not in ids:
            raise StripeError(400, f"Invalid subscription_item id: {item['id']}", param=f"{param}[{i}][id]")
        price_id = item.get("price")
        if price_id is None or price_id not in STATE.prices:
            raise no_such("price", price_id or "", f"{param}[{i}][price]", 400)
        if STATE.prices[price_id]["recurring"] is None:
            raise StripeError(400, "The price specified is set to `type=one_time` but this field only accepts "
                                   "prices with `type=recurring`.", param=f"{param}[{i}][price]")
        changes.append((ids.index(item["id"]), STATE.prices[price_id]))
    return changes


def proration_lines(sub: dict, changes: list, at: int) -> list:
    """Stripe's two proration lines per changed item: the unused time on the old price credited, the
    remaining time on the new one charged, in proportion to what is left of the period."""
    lines = []
    for index, price in changes:
        item = sub["items"]["data"][index]
        start, end = item["current_period_start"], item["current_period_end"]
        left = max(0.0, min(1.0, (end - at) / max(1, end - start)))
        quantity = item["quantity"]
        old = round(-(item["price"]["unit_amount"] or 0) * quantity * left)
        new = round((price["unit_amount"] or 0) * quantity * left)
        name = lambda p: p["nickname"] or p["lookup_key"] or p["id"]
        lines.append(invoice_line(sub, item, item["price"], old, f"Unused time on {name(item['price'])}",
                                  True, at, end, quantity))
        lines.append(invoice_line(sub, item, price, new, f"Remaining time on {name(price)}", True, at, end,
                                  quantity))
    return lines


def update_subscription(p, id_):
    sub = retrieve_subscription(p, id_)
    before = snapshot(sub)
    at_end = as_bool(p, "cancel_at_period_end")
    changes = item_changes(sub, p.get("items"), "items")
    behavior = proration_behavior(p)
    if p.get("default_payment_method") is not None and p["default_payment_method"] not in STATE.payment_methods:
        raise no_such("PaymentMethod", p["default_payment_method"], "default_payment_method", 400)
    if sub["status"] in ("canceled", "incomplete_expired") and (at_end is not None or changes):
        raise StripeError(400, "A canceled subscription can only update its cancellation_details and "
                               "metadata.", param="cancel_at_period_end" if at_end is not None else "items")
    cancelation = "cancel_at_period_end" if at_end is not None else "cancel_at" if "cancel_at" in p else None
    if cancelation and sub.get("schedule"):
        raise StripeError(400, f"The subscription is managed by the subscription schedule `{sub['schedule']}`, and "
                               "updating any cancelation behavior directly is not allowed. Please update the "
                               "schedule instead.", param=cancelation)
    if "cancel_at" in p:
        raise StripeError(400, "The fake does not support `cancel_at`: use `cancel_at_period_end`.",
                          param="cancel_at")
    if at_end is not None:
        period_end = sub["items"]["data"][0]["current_period_end"]
        sub.update(cancel_at_period_end=at_end, cancel_at=period_end if at_end else None,
                   canceled_at=now() if at_end else None)
        sub["cancellation_details"]["reason"] = "cancellation_requested" if at_end else None
    if changes:
        stamp = now()
        prorations = proration_lines(sub, changes, stamp) if behavior != "none" else []
        for index, price in changes:
            item = sub["items"]["data"][index]
            item["price"], item["plan"] = copy.deepcopy(price), plan_object(price)
        invoice = None
        if behavior == "always_invoice" and prorations:
            invoice = new_invoice(sub, prorations, "subscription_update")
            invoice["status"] = "open"
        else:
            sub.setdefault("_pending_prorations", []).extend(prorations)
    if p.get("default_payment_method") is not None:
        sub["default_payment_method"] = p["default_payment_method"]
    sub["metadata"] = merge_metadata(sub["metadata"], p.get("metadata"))
    emit_updated("customer.subscription.updated", sub, before)
    if changes and invoice is not None:
        # The proration invoice is finalized and charged at once; a subscription without any card (a seeded
        # one) keeps it open, unattempted.
        invoice["status"] = "draft"
        emit("invoice.created", invoice)
        finalize(invoice)
        if default_card(sub, sub["customer"]):
            collect(invoice, sub)
    return public(sub)


def public(sub: dict) -> dict:
    """The subscription without the fake's own bookkeeping."""
    return {k: v for k, v in sub.items() if not k.startswith("_")}


def cancel_subscription(p, id_):
    sub = retrieve_subscription(p, id_)
    for flag in ("prorate", "invoice_now"):
        as_bool(p, flag)
    if sub["status"] == "canceled":
        raise no_such("subscription", id_)  # what Stripe answers for an already-canceled subscription
    stamp = now()
    sub.update(status="canceled", canceled_at=stamp, ended_at=stamp, cancel_at_period_end=False)
    sub["cancellation_details"]["reason"] = "cancellation_requested"
    sub.pop("_dunning", None)
    cancel_schedule_of(sub, stamp)
    emit("customer.subscription.deleted", sub)
    return public(sub)


def cancel_schedule_of(sub: dict, stamp: int) -> None:
    """Canceling a subscription cancels the schedule managing it (as Stripe does)."""
    schedule = STATE.schedules.get(sub.get("schedule") or "")
    if schedule is not None and schedule["status"] in ("not_started", "active"):
        schedule.update(status="canceled", canceled_at=stamp, current_phase=None)
        emit("subscription_schedule.canceled", schedule)


def invoice_line(sub: dict, item: dict, price: dict, amount: int, description: str, proration: bool,
                 start: int, end: int, quantity: int) -> dict:
    return {"id": new_id("il_tmp_", 24), "object": "line_item", "amount": amount, "currency": price["currency"],
            "description": description, "discount_amounts": [], "discountable": not proration, "discounts": [],
            "invoice": None, "livemode": False, "metadata": {},
            "parent": {"type": "subscription_item_details", "invoice_item_details": None,
                       "subscription_item_details": {"invoice_item": new_id("ii_", 24) if proration else None,
                                                     "proration": proration,
                                                     "proration_details": {"credited_items": None},
                                                     "subscription": sub["id"], "subscription_item": item["id"]}},
            "period": {"end": end, "start": start}, "pretax_credit_amounts": [],
            "pricing": {"price_details": {"price": price["id"], "product": price["product"]},
                        "type": "price_details", "unit_amount_decimal": price["unit_amount_decimal"]},
            "quantity": quantity, "quantity_decimal": str(quantity), "subscription": sub["id"],
            "subtotal": amount, "taxes": []}


def invoice_object(sub: dict, lines: list, stamp: int, reason: str) -> dict:
    total = sum(line["amount"] for line in lines)
    start = min((line["period"]["start"] for line in lines), default=stamp)
    end = max((line["period"]["end"] for line in lines), default=stamp)
    customer = STATE.customers.get(sub["customer"], {})
    return {"id": None, "object": "invoice", "account_country": "US", "account_name": "Entitle (fake)",
            "account_tax_ids": None, "amount_due": max(total, 0), "amount_overpaid": 0, "amount_paid": 0,
            "amount_remaining": max(total, 0), "amount_shipping": 0, "application": None, "attempt_count": 0,
            "attempted": False, "auto_advance": False,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None, "provider": None,
                              "status": None},
            "automatically_finalizes_at": None, "billing_reason": reason,
            "collection_method": "charge_automatically", "confirmation_secret": None, "created": stamp,
            "currency": sub["currency"], "custom_fields": None, "customer": sub["customer"],
            "customer_account": None, "customer_address": None, "customer_email": customer.get("email"),
            "customer_name": customer.get("name"), "customer_phone": None, "customer_shipping": None,
            "customer_tax_exempt": "none", "customer_tax_ids": [], "default_payment_method": None,
            "default_source": None, "default_tax_rates": [], "description": None, "discounts": [],
            "due_date": None, "effective_at": None, "ending_balance": None, "footer": None, "from_invoice": None,
            "hosted_invoice_url": None, "invoice_pdf": None, "issuer": {"type": "self"},
            "last_finalization_error": None, "latest_revision": None,
            "lines": {"object": "list", "data": lines, "has_more": False, "total_count": len(lines),
                      "url": "/v1/invoices/upcoming/lines"},
            "livemode": False, "metadata": {}, "next_payment_attempt": end if reason == "upcoming" else stamp,
            "number": None, "on_behalf_of": None,
            "parent": {"type": "subscription_details", "quote_details": None,
                       "subscription_details": {"metadata": sub["metadata"], "subscription": sub["id"]}},
            "payment_settings": {"default_mandate": None, "payment_method_options": None,
                                 "payment_method_types": None},
            "period_end": end, "period_start": start, "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0, "receipt_number": None, "rendering": None,
            "shipping_cost": None, "shipping_details": None, "starting_balance": 0, "statement_descriptor": None,
            "status": "draft", "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None,
                                                      "paid_at": None, "voided_at": None},
            "subtotal": total, "subtotal_excluding_tax": total, "test_clock": None, "total": total,
            "total_discount_amounts": [], "total_excluding_tax": total, "total_pretax_credit_amounts": [],
            "total_taxes": [], "webhooks_delivered_at": None}


def create_preview_invoice(p):
    """`POST /v1/invoices/create_preview` for an existing subscription, optionally with
    `subscription_details[items]` and `[proration_behavior]`: the invoice the change would bring (at once for
    `always_invoice`, else the next one: pending prorations plus the next period). Without `subscription`:
    the first invoice of a subscription `customer` would start with `subscription_details[items]` at
    `subscription_details[start_date]` (see preview_new_subscription)."""
    sid = p.get("subscription")
    details = p.get("subscription_details") if isinstance(p.get("subscription_details"), dict) else {}
    if sid is None:
        return preview_new_subscription(p, details)
    if "start_date" in details:
        raise StripeError(400, "start_date cannot be used with an existing subscription.",
                          param="subscription_details[start_date]")
    if sid not in STATE.subscriptions:
        raise no_such("subscription", sid, "subscription", 400)
    sub = copy.deepcopy(STATE.subscriptions[sid])
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise StripeError(400, "No upcoming invoices for a canceled subscription.", code="invoice_upcoming_none")
    changes = item_changes(sub, details.get("items"), "subscription_details[items]")
    behavior = proration_behavior(details, "subscription_details[proration_behavior]")
    stamp = now()
    prorations = proration_lines(sub, changes, stamp) if behavior != "none" else []
    for index, price in changes:
        sub["items"]["data"][index]["price"] = copy.deepcopy(price)
    if behavior == "always_invoice" and prorations:
        return invoice_object(sub, prorations, stamp, "subscription_update")
    lines = list(sub.get("_pending_prorations", [])) + prorations
    for item in sub["items"]["data"]:
        end = item["current_period_end"]
        interval = 365 * 86400 if (item["price"]["recurring"] or {}).get("interval") == "year" else 30 * 86400
        amount = (item["price"]["unit_amount"] or 0) * item["quantity"]
        name = item["price"]["nickname"] or item["price"]["lookup_key"] or item["price"]["id"]
        lines.append(invoice_line(sub, item, item["price"], amount, f"{item['quantity']} × {name}", False, end,
                                  end + interval, item["quantity"]))
    invoice = invoice_object(sub, lines, stamp, "upcoming")
    invoice["next_payment_attempt"] = sub["items"]["data"][0]["current_period_end"]
    return invoice


def preview_new_subscription(p: dict, details: dict) -> dict:
    """The preview of creating a subscription for `customer` with `subscription_details[items][i][price]`
    (`[quantity]`, default 1) starting at `subscription_details[start_date]` (default now, may be in the
    future): one line per item, its price's unit amount × quantity over one interval of the price from the
    start, not prorated; charged at the start (`next_payment_attempt`)."""
    if p.get("customer") is None:
        raise missing_param("customer")
    customer = STATE.customer(p["customer"], "customer", 400)
    stamp = now()
    start = stamp if details.get("start_date") is None else as_int(details["start_date"],
                                                                  "subscription_details[start_date]")
    raw = details.get("items")
    if raw is None or raw == "" or raw == []:
        raise StripeError(400, "The fake previews a new subscription only with its items: pass "
                               "`subscription_details[items]` (or `subscription` for an existing one).",
                          code="parameter_missing", param="subscription_details[items]")
    if not isinstance(raw, list):
        raise StripeError(400, "Invalid array", param="subscription_details[items]")
    lines, seen = [], set()
    sub = {"id": None, "customer": customer["id"], "currency": None, "metadata": {}}
    for i, item in enumerate(raw):
        item, param = item if isinstance(item, dict) else {}, f"subscription_details[items][{i}]"
        price_id = item.get("price")
        if price_id is None:
            raise missing_param(f"{param}[price]")
        if price_id not in STATE.prices:
            raise no_such("price", price_id, f"{param}[price]", 400)
        price = STATE.prices[price_id]
        if price["recurring"] is None:
            raise StripeError(400, "The price specified is set to `type=one_time` but this field only accepts "
                                   "prices with `type=recurring`.", param=f"{param}[price]")
        if price_id in seen:
            raise StripeError(400, f"Cannot add multiple subscription items with the same price: {price_id}.",
                              param=f"{param}[price]")
        seen.add(price_id)
        if sub["currency"] not in (None, price["currency"]):
            raise StripeError(400, f"The price `{price_id}` is in `{price['currency']}` but the other items of the "
                                   f"subscription are in `{sub['currency']}`: all the prices of a subscription "
                                   "must have the same currency.", param=f"{param}[price]")
        sub["currency"] = price["currency"]
        metered = price["recurring"].get("usage_type") == "metered"
        if metered and item.get("quantity") is not None:
            raise StripeError(400, "Quantity should not be defined when `recurring.usage_type=metered`.",
                              param=f"{param}[quantity]")
        quantity = 0 if metered else as_int(item.get("quantity", 1), f"{param}[quantity]")
        if quantity < 0:
            raise StripeError(400, "Invalid non-negative integer", code="parameter_invalid_integer",
                              param=f"{param}[quantity]")
        amount = (price["unit_amount"] or 0) * quantity
        line_item = {"id": None}
        lines.append(invoice_line(sub, line_item, price, amount, f"{quantity} × {price_name(price)}", False, start,
                                  start + period_seconds(price), quantity))
    invoice = invoice_object(sub, lines, stamp, "upcoming")
    invoice["next_payment_attempt"] = max(start, stamp)
    invoice["parent"]["subscription_details"]["subscription"] = None
    return invoice


def checkout_line_items(p) -> list:
    raw = p.get("line_items") or []
    if not isinstance(raw, list):
        raise StripeError(400, "Invalid array", param="line_items")
    items = []
    for i, line in enumerate(raw):
        price_id = line.get("price") if isinstance(line, dict) else None
        if price_id is None:
            raise missing_param(f"line_items[{i}][price]")
        if price_id not in STATE.prices:
            raise no_such("price", price_id, f"line_items[{i}][price]", 400)
        price = copy.deepcopy(STATE.prices[price_id])
        metered = (price["recurring"] or {}).get("usage_type") == "metered"
        if metered and line.get("quantity") is not None:
            raise StripeError(400, "Quantity should not be defined when `recurring.usage_type=metered`.",
                              param=f"line_items[{i}][quantity]")
        if not metered and line.get("quantity") is None:
            raise missing_param(f"line_items[{i}][quantity]")
        # A metered price bills what its meter reports at the period's end: no quantity, nothing up front.
        quantity = None if metered else as_int(line["quantity"], f"line_items[{i}][quantity]")
        amount = 0 if metered else (price["unit_amount"] or 0) * quantity
        items.append({"id": new_id("li_", 24), "object": "item", "amount_discount": 0, "amount_subtotal": amount,
                      "amount_tax": 0, "amount_total": amount, "currency": price["currency"],
                      "description": (STATE.products.get(price["product"]) or {}).get("name")
                      or price["nickname"] or price["lookup_key"] or price["product"],
                      "price": price, "quantity": quantity})
    return items


def create_checkout_session(p):
    mode = p.get("mode")
    if mode is None:
        raise missing_param("mode")
    if mode not in ("payment", "setup", "subscription"):
        raise StripeError(400, "Invalid mode: must be one of payment, setup, or subscription", param="mode")
    if p.get("customer") is not None:
        STATE.customer(p["customer"], "customer", 400)
    items = checkout_line_items(p)
    if mode != "setup" and not items:
        raise missing_param("line_items")
    if mode == "subscription" and not any(i["price"]["recurring"] for i in items):
        raise StripeError(400, "You must provide at least one recurring price in `subscription` mode when using "
                               "prices.", param="line_items")
    sid, created, total = new_id("cs_test_a1", 56), now(), sum(i["amount_total"] for i in items)
    session = {"id": sid, "object": "checkout.session", "after_expiration": None,
               "allow_promotion_codes": as_bool(p, "allow_promotion_codes"), "amount_subtotal": total,
               "amount_total": total,
               "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
               "billing_address_collection": None, "cancel_url": p.get("cancel_url"),
               "client_reference_id": p.get("client_reference_id"), "collected_information": None,
               "consent": None, "consent_collection": None, "created": created,
               "currency": items[0]["currency"] if items else None, "custom_fields": [],
               "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                               "terms_of_service_acceptance": None},
               "customer": p.get("customer"),
               "customer_creation": None if p.get("customer") else "if_required", "customer_details": None,
               "customer_email": p.get("customer_email"), "discounts": [], "expires_at": created + 86400,
               "invoice": None, "invoice_creation": None, "livemode": False, "locale": p.get("locale"),
               "metadata": merge_metadata({}, p.get("metadata")), "mode": mode, "payment_intent": None,
               "payment_link": None, "payment_method_collection": "always",
               "payment_method_configuration_details": None, "payment_method_options": {},
               "payment_method_types": ["card"], "payment_status": "unpaid",
               "phone_number_collection": {"enabled": False}, "recovered_from": None,
               "saved_payment_method_options": None, "setup_intent": None, "shipping_address_collection": None,
               "shipping_cost": None, "shipping_options": [], "status": "open", "submit_type": None,
               "subscription": None, "success_url": p.get("success_url"),
               "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}, "ui_mode": "hosted",
               "url": f"{BASE_URL}/checkout/{sid}" if HOSTED_PAGES else f"https://checkout.stripe.com/c/pay/{sid}"}
    STATE.sessions[sid], STATE.line_items[sid] = session, items
    STATE.session_extras[sid] = {"subscription_data": p.get("subscription_data") if isinstance(
        p.get("subscription_data"), dict) else {}, "payment_intent_data": p.get("payment_intent_data") if isinstance(
        p.get("payment_intent_data"), dict) else {}}
    return session


def retrieve_checkout_session(p, id_):
    if id_ not in STATE.sessions:
        raise no_such("checkout.session", id_)
    return STATE.sessions[id_]


def list_checkout_line_items(p, id_):
    retrieve_checkout_session(p, id_)
    return list_object(f"/v1/checkout/sessions/{id_}/line_items", STATE.line_items[id_], p)


NO_DEFAULT_PORTAL_CONFIGURATION = (
    "No configuration provided and your test mode default configuration has not been created. Provide a "
    "configuration or create your default by saving your customer portal settings in test mode at "
    "https://dashboard.stripe.com/test/settings/billing/portal.")


def create_portal_session(p):
    """`configuration` (an existing, active one) or else the account's default one, which a fresh account
    lacks (POST /__fake/portal/default saves it)."""
    if p.get("customer") is None:
        raise missing_param("customer")
    STATE.customer(p["customer"], "customer", 400)
    if p.get("configuration") is not None:
        config = STATE.portal_configurations.get(p["configuration"])
        if config is None:
            raise no_such("configuration", p["configuration"], "configuration", 400)
    else:
        config = default_portal_configuration()
        if config is None:
            raise StripeError(400, NO_DEFAULT_PORTAL_CONFIGURATION)
    if not config["active"]:
        raise StripeError(400, f"The configuration `{config['id']}` is inactive: activate it or provide an "
                               "active configuration.", param="configuration")
    sid = new_id("bps_", 24)
    session = {"id": sid, "object": "billing_portal.session", "configuration": config["id"],
               "created": now(), "customer": p["customer"], "flow": None, "livemode": False, "locale": None,
               "on_behalf_of": None, "return_url": p.get("return_url") or config["default_return_url"],
               "url": f"{BASE_URL}/portal/{sid}" if HOSTED_PAGES else f"https://billing.stripe.com/p/session/{sid}"}
    STATE.portal_sessions[sid] = session
    return session


# ---------------------------------------------------------------- subscription schedules

INTERVAL_SECONDS = {"day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}


def schedule_phase(items: list, start: int, end: int, behavior: str = "create_prorations") -> dict:
    """A phase of Stripe's `subscription_schedule.phases`; `items` are `(price id, quantity)`."""
    return {"add_invoice_items": [], "application_fee_percent": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": None, "billing_thresholds": None, "collection_method": None, "currency": "usd",
            "default_payment_method": None, "default_tax_rates": [], "description": None, "discounts": [],
            "end_date": end, "invoice_settings": None,
            "items": [{"billing_thresholds": None, "discounts": [], "metadata": {}, "plan": price, "price": price,
                       "quantity": quantity, "tax_rates": []} for price, quantity in items],
            "metadata": {}, "on_behalf_of": None, "proration_behavior": behavior, "start_date": start,
            "transfer_data": None, "trial_end": None}


def retrieve_schedule(p, id_):
    if id_ not in STATE.schedules:
        raise no_such("subscription_schedule", id_)
    return STATE.schedules[id_]


def create_schedule(p):
    """Only `from_subscription`, as Entitle uses it: the schedule takes over the subscription as one phase."""
    sub_id = p.get("from_subscription")
    if not sub_id:
        raise StripeError(400, "The fake creates schedules only `from_subscription`.", param="from_subscription")
    if sub_id not in STATE.subscriptions:
        raise no_such("subscription", sub_id, "from_subscription", 400)
    sub = STATE.subscriptions[sub_id]
    if sub.get("schedule"):
        raise StripeError(400, f"You cannot migrate a subscription that is already attached to a schedule: "
                               f"`{sub['schedule']}`.", param="from_subscription")
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise StripeError(400, "You cannot migrate a canceled subscription to a schedule.",
                          param="from_subscription")
    items = sub["items"]["data"]
    start, end = items[0]["current_period_start"], items[0]["current_period_end"]
    id_ = new_id("sub_sched_", 24)
    STATE.schedules[id_] = {
        "id": id_, "object": "subscription_schedule", "application": None,
        "billing_mode": {"flexible": None, "type": "classic"}, "canceled_at": None, "completed_at": None,
        "created": now(), "current_phase": {"end_date": end, "start_date": start}, "customer": sub["customer"],
        "customer_account": None,
        "default_settings": {"application_fee_percent": None, "automatic_tax": {"disabled_reason": None,
                             "enabled": False, "liability": None}, "billing_cycle_anchor": "automatic",
                             "billing_thresholds": None, "collection_method": "charge_automatically",
                             "default_payment_method": None, "description": None,
                             "invoice_settings": {"account_tax_ids": None, "days_until_due": None,
                                                  "issuer": {"type": "self"}},
                             "on_behalf_of": None, "transfer_data": None},
        "end_behavior": "release", "livemode": False, "metadata": {},
        "phases": [schedule_phase([(i["price"]["id"], i["quantity"]) for i in items], start, end)],
        "released_at": None, "released_subscription": None, "status": "active", "subscription": sub_id,
        "test_clock": None}
    before = snapshot(sub)
    sub["schedule"] = id_
    emit("subscription_schedule.created", STATE.schedules[id_])
    emit_updated("customer.subscription.updated", sub, before)
    return STATE.schedules[id_]


def update_schedule(p, id_):
    schedule = retrieve_schedule(p, id_)
    if schedule["status"] not in ("not_started", "active"):
        raise StripeError(400, f"You cannot update a subscription schedule that is currently in the "
                               f"`{schedule['status']}` status. It must be in one of the following statuses: "
                               "not_started, active.")
    raw = p.get("phases")
    if raw is not None:
        if not isinstance(raw, list) or not raw:
            raise StripeError(400, "Invalid array", param="phases")
        behavior = proration_behavior(p)
        phases, start = [], None
        for i, phase in enumerate(raw):
            phase = phase if isinstance(phase, dict) else {}
            given = phase.get("start_date")
            start = (now() if given == "now" else as_int(given, f"phases[{i}][start_date]")) if given is not None \
                else start
            if start is None:
                raise missing_param(f"phases[{i}][start_date]")
            if i == 0 and start != schedule["current_phase"]["start_date"]:
                raise StripeError(400, "You can not modify the start date of the current phase.",
                                  param="phases[0][start_date]")
            items = []
            for j, item in enumerate(phase.get("items") or []):
                price = (item or {}).get("price")
                if price not in STATE.prices:
                    raise no_such("price", price or "", f"phases[{i}][items][{j}][price]", 400)
                if price in [x for x, _ in items]:
                    raise StripeError(400, f"Cannot add multiple subscription items with the same price: {price}.",
                                      param=f"phases[{i}][items][{j}][price]")
                items.append((price, as_int(item.get("quantity", 1), f"phases[{i}][items][{j}][quantity]")))
            if not items:
                raise missing_param(f"phases[{i}][items]")
            end = phase.get("end_date")
            if end is not None:
                end = as_int(end, f"phases[{i}][end_date]")
            else:  # one billing interval of the phase's first price, as Stripe does for the last phase
                recurring = STATE.prices[items[0][0]]["recurring"] or {"interval": "month", "interval_count": 1}
                end = start + INTERVAL_SECONDS[recurring["interval"]] * int(recurring.get("interval_count", 1))
            if end <= start:
                raise StripeError(400, "The phase end date must be after its start date.",
                                  param=f"phases[{i}][end_date]")
            phases.append(schedule_phase(items, start, end, phase.get("proration_behavior", behavior)))
            start = end
        schedule["phases"] = phases
    if p.get("end_behavior") is not None:
        if p["end_behavior"] not in ("release", "cancel"):
            raise StripeError(400, "Invalid end_behavior: must be one of release, cancel", param="end_behavior")
        schedule["end_behavior"] = p["end_behavior"]
    schedule["metadata"] = merge_metadata(schedule["metadata"], p.get("metadata"))
    emit("subscription_schedule.updated", schedule)
    return schedule


def release_schedule(p, id_):
    schedule = retrieve_schedule(p, id_)
    if schedule["status"] not in ("not_started", "active"):
        raise StripeError(400, f"You cannot release a subscription schedule that is currently in the "
                               f"`{schedule['status']}` status. It must be in one of the following statuses: "
                               "not_started, active.")
    sub = STATE.subscriptions.get(schedule["subscription"])
    before = snapshot(sub) if sub is not None else None
    if sub is not None:
        sub["schedule"] = None
    schedule.update(status="released", released_at=now(), released_subscription=schedule["subscription"],
                    current_phase=None)
    emit("subscription_schedule.released", schedule)
    if sub is not None:
        emit_updated("customer.subscription.updated", sub, before)
    return schedule


# ---------------------------------------------------------------- catalog: products, prices, features, meters

def cannot_unset(param: str) -> StripeError:
    return StripeError(400, f"You passed an empty string for '{param}'. We assume empty values are an attempt to "
                            f"unset a parameter; however '{param}' cannot be unset. You should remove '{param}' "
                            "from your request or supply a non-empty value.", code="parameter_invalid_empty",
                       param=param)


def required_string(p: dict, key: str, max_length: int = 5000, param: str | None = None) -> str:
    """`p[key]`, a non-empty string; errors name `param` (the key's full name when `p` is a nested hash)."""
    value, param = p.get(key), param or key
    if value is None:
        raise missing_param(param)
    if value == "":
        raise cannot_unset(param)
    return checked_string(value, param, max_length)


def checked_string(value, param: str, max_length: int = 5000):
    if value is not None and not isinstance(value, str):
        raise StripeError(400, f"Invalid string: {json.dumps(value)}", param=param)
    if value is not None and len(value) > max_length:
        raise StripeError(400, f"Invalid string: {value[:20]}...; must be at most {max_length} characters",
                          code="string_length_exceeds_maximum", param=param)
    return value


def optional_string(p: dict, param: str, max_length: int = 5000):
    """A nullable string param: absent -> None, `""` -> None (Stripe's unset)."""
    return checked_string(p.get(param), param, max_length) or None


def as_list(p: dict, param: str):
    value = p.get(param)
    if value is None or value == "":
        return None if value is None else []
    if not isinstance(value, list):
        raise StripeError(400, "Invalid array", param=param)
    return value


def one_of(value, param: str, allowed: tuple):
    if value is not None and value not in allowed:
        choices = ", ".join(allowed[:-1]) + f", or {allowed[-1]}" if len(allowed) > 2 else " or ".join(allowed)
        raise StripeError(400, f"Invalid {param}: must be one of {choices}", param=param)
    return value


# products

PRODUCT_STRINGS = (("description", 40000), ("statement_descriptor", 22), ("tax_code", 5000),
                   ("unit_label", 12), ("url", 5000))


def product_fields(p: dict) -> dict:
    """The product fields `p` sets (create and update share them)."""
    fields = {field: optional_string(p, field, length) for field, length in PRODUCT_STRINGS if field in p}
    if "name" in p:
        fields["name"] = required_string(p, "name", 5000)
    for flag in ("active", "shippable"):
        if p.get(flag) is not None:
            fields[flag] = as_bool(p, flag)
    images = as_list(p, "images")
    if images is not None:
        fields["images"] = images
    features = as_list(p, "marketing_features")
    if features is not None:
        fields["marketing_features"] = [{"name": required_string(f if isinstance(f, dict) else {}, "name", 80,
                                                                 f"marketing_features[{i}][name]")}
                                        for i, f in enumerate(features)]
    return fields


def retrieve_product(p, id_, param: str = "id", status: int = 404):
    if id_ not in STATE.products:
        raise no_such("product", id_, param, status)
    return STATE.products[id_]


def create_product(p):
    id_ = p.get("id")
    if id_ is not None:
        id_ = required_string(p, "id", 5000)
        if id_ in STATE.products:
            raise StripeError(400, "Product already exists.", code="resource_already_exists", param="id")
    if p.get("default_price_data") is not None:
        raise StripeError(400, "The fake does not support `default_price_data`: create the price with "
                               "POST /v1/prices.", param="default_price_data")
    fields = product_fields(p)
    if "name" not in fields:
        raise missing_param("name")
    stamp = now()
    product = {"id": id_ or new_id("prod_"), "object": "product", "active": True, "created": stamp,
               "default_price": None, "description": None, "images": [], "livemode": False,
               "marketing_features": [], "metadata": merge_metadata({}, p.get("metadata")), "name": None,
               "package_dimensions": None, "shippable": None, "statement_descriptor": None, "tax_code": None,
               "unit_label": None, "updated": stamp, "url": None}
    product.update(fields)
    STATE.products[product["id"]] = product
    return product


def update_product(p, id_):
    product = retrieve_product(p, id_)
    fields = product_fields(p)
    metadata = merge_metadata(product["metadata"], p.get("metadata"))
    product.update(fields, metadata=metadata, updated=now())
    return product


def list_products(p):
    active, shippable, ids = as_bool(p, "active"), as_bool(p, "shippable"), as_list(p, "ids")

    def keep(x):
        return (active in (None, x["active"]) and shippable in (None, x["shippable"])
                and (ids is None or x["id"] in ids) and p.get("url") in (None, x["url"]))

    return page("/v1/products", list(reversed(STATE.products.values())), p, "product", keep)


# prices

TAX_BEHAVIORS = ("exclusive", "inclusive", "unspecified")
MAX_INTERVAL_COUNT = {"day": 1095, "week": 156, "month": 36, "year": 3}  # Stripe's three-year ceiling


def recurring_of(raw) -> dict | None:
    """`recurring[...]` checked like Stripe; metered prices need an active meter."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise StripeError(400, "Invalid object", param="recurring")
    interval = one_of(raw.get("interval"), "recurring[interval]", ("day", "month", "week", "year"))
    if interval is None:
        raise missing_param("recurring[interval]")
    count = as_int(raw.get("interval_count", 1), "recurring[interval_count]")
    if not 1 <= count <= MAX_INTERVAL_COUNT[interval]:
        raise StripeError(400, "The maximum billing interval is 3 years. Please choose a shorter "
                               "`recurring[interval]` or `recurring[interval_count]`.",
                          param="recurring[interval_count]")
    usage = one_of(raw.get("usage_type", "licensed"), "recurring[usage_type]", ("licensed", "metered"))
    meter = raw.get("meter") or None
    if usage == "metered" and meter is None:
        raise StripeError(400, "Prices with `recurring[usage_type]=metered` must be backed by a billing meter: "
                               "pass `recurring[meter]`.", code="parameter_missing", param="recurring[meter]")
    if usage == "licensed" and meter is not None:
        raise StripeError(400, "`recurring[meter]` can only be set when `recurring[usage_type]` is `metered`.",
                          param="recurring[meter]")
    if meter is not None and retrieve_meter({}, meter, "recurring[meter]", 400)["status"] != "active":
        raise StripeError(400, f"The meter `{meter}` is inactive: you can't attach a deactivated meter to a "
                               "price.", param="recurring[meter]")
    trial = raw.get("trial_period_days")
    return {"interval": interval, "interval_count": count, "meter": meter, "usage_type": usage,
            "trial_period_days": None if trial is None else as_int(trial, "recurring[trial_period_days]")}


def transform_quantity_of(raw) -> dict | None:
    """`transform_quantity[divide_by]` (a positive integer) and `[round]` (`up` or `down`), both required."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise StripeError(400, "Invalid object", param="transform_quantity")
    for field in ("divide_by", "round"):
        if raw.get(field) is None:
            raise missing_param(f"transform_quantity[{field}]")
    divide_by = as_int(raw["divide_by"], "transform_quantity[divide_by]")
    if divide_by < 1:
        raise StripeError(400, "Invalid positive integer", code="parameter_invalid_integer",
                          param="transform_quantity[divide_by]")
    return {"divide_by": divide_by,
            "round": one_of(raw["round"], "transform_quantity[round]", ("down", "up"))}


def lookup_key_holder(key, price_id, transfer: bool):
    """The price holding `key` that must give it up (None if none); a 400 without `transfer_lookup_key`."""
    holder = next((x for x in STATE.prices.values() if key and x["lookup_key"] == key and x["id"] != price_id),
                  None)
    if holder is not None and not transfer:
        raise StripeError(400, f"A price (`{holder['id']}`) already uses that lookup key.", param="lookup_key")
    return holder


def create_price(p):
    if p.get("product") is None:
        if p.get("product_data") is not None:
            raise StripeError(400, "The fake creates prices only of an existing `product`.", param="product_data")
        raise StripeError(400, "You must specify either `product` or `product_data` when creating a price.",
                          code="parameter_missing", param="product")
    product = retrieve_product({}, p["product"], "product", 400)
    currency = p.get("currency")
    if currency is None:
        raise missing_param("currency")
    if not re.fullmatch(r"[A-Za-z]{3}", currency):
        raise StripeError(400, f"Invalid currency: {currency}. Stripe currently supports these currencies: "
                               "usd, eur, gbp, ... (see https://stripe.com/docs/currencies)", param="currency")
    if p.get("unit_amount") is None:
        raise missing_param("unit_amount")
    amount = as_int(p["unit_amount"], "unit_amount")
    if amount < 0:
        raise StripeError(400, "Invalid non-negative integer", code="parameter_invalid_integer", param="unit_amount")
    recurring = recurring_of(p.get("recurring"))
    transform = transform_quantity_of(p.get("transform_quantity"))
    tax_behavior = one_of(p.get("tax_behavior", "unspecified"), "tax_behavior", TAX_BEHAVIORS)
    key = optional_string(p, "lookup_key", 200)
    holder = lookup_key_holder(key, None, bool(as_bool(p, "transfer_lookup_key")))
    active = as_bool(p, "active")
    price = price_object({"product": product["id"], "currency": currency.lower(), "unit_amount": amount,
                          "recurring": recurring, "lookup_key": key, "nickname": optional_string(p, "nickname"),
                          "metadata": merge_metadata({}, p.get("metadata")),
                          "active": True if active is None else active})
    if recurring is not None:
        price["recurring"].update(meter=recurring["meter"])
    price["tax_behavior"], price["transform_quantity"] = tax_behavior, transform
    if holder is not None:
        holder["lookup_key"] = None
    STATE.prices[price["id"]] = price
    return price


def update_price(p, id_):
    price = retrieve_price(p, id_)
    active = as_bool(p, "active")
    tax_behavior = one_of(p.get("tax_behavior"), "tax_behavior", TAX_BEHAVIORS)
    if tax_behavior not in (None, price["tax_behavior"]) and price["tax_behavior"] != "unspecified":
        raise StripeError(400, "You cannot change `tax_behavior` once it is set to `inclusive` or `exclusive`.",
                          param="tax_behavior")
    holder = None
    if "lookup_key" in p:
        key = optional_string(p, "lookup_key", 200)
        holder = lookup_key_holder(key, id_, bool(as_bool(p, "transfer_lookup_key")))
        price["lookup_key"] = key
    if holder is not None:
        holder["lookup_key"] = None
    if active is not None:
        price["active"] = active
    if tax_behavior is not None:
        price["tax_behavior"] = tax_behavior
    if "nickname" in p:
        price["nickname"] = optional_string(p, "nickname")
    price["metadata"] = merge_metadata(price["metadata"], p.get("metadata"))
    return price


# entitlements features and their attachments to products

def retrieve_feature(p, id_, param: str = "id", status: int = 404):
    if id_ not in STATE.features:
        raise no_such("entitlements.feature", id_, param, status)
    return STATE.features[id_]


def create_feature(p):
    name, key = required_string(p, "name", 80), required_string(p, "lookup_key", 80)
    if any(f["lookup_key"] == key for f in STATE.features.values()):
        raise StripeError(400, f"A feature with lookup_key `{key}` already exists.", code="resource_already_exists",
                          param="lookup_key")
    feature = {"id": new_id("feat_test_", 24), "object": "entitlements.feature", "active": True,
               "livemode": False, "lookup_key": key, "metadata": merge_metadata({}, p.get("metadata")),
               "name": name}
    STATE.features[feature["id"]] = feature
    return feature


def update_feature(p, id_):
    feature = retrieve_feature(p, id_)
    name, active = required_string(p, "name", 80) if "name" in p else None, as_bool(p, "active")
    feature["metadata"] = merge_metadata(feature["metadata"], p.get("metadata"))
    if name is not None:
        feature["name"] = name
    if active is not None:
        feature["active"] = active
    return feature


def list_features(p):
    """Archived (inactive) features are left out unless `archived=true` asks for them alone."""
    archived = bool(as_bool(p, "archived"))
    keep = lambda f: f["active"] != archived and p.get("lookup_key") in (None, f["lookup_key"])
    return page("/v1/entitlements/features", list(reversed(STATE.features.values())), p, "entitlements.feature",
                keep)


def product_feature_object(attachment: dict) -> dict:
    return {"id": attachment["id"], "object": "product_feature",
            "entitlement_feature": STATE.features[attachment["feature"]], "livemode": False}


def attach_product_feature(p, product_id):
    retrieve_product(p, product_id)
    if p.get("entitlement_feature") is None:
        raise missing_param("entitlement_feature")
    feature = retrieve_feature({}, p["entitlement_feature"], "entitlement_feature", 400)
    if not feature["active"]:
        raise StripeError(400, f"The feature `{feature['id']}` is archived: archived features cannot be attached "
                               "to products.", param="entitlement_feature")
    if any(a["product"] == product_id and a["feature"] == feature["id"] for a in STATE.product_features.values()):
        raise StripeError(400, f"The feature `{feature['id']}` is already attached to the product "
                               f"`{product_id}`.", code="resource_already_exists", param="entitlement_feature")
    attachment = {"id": new_id("prodft_", 24), "product": product_id, "feature": feature["id"]}
    STATE.product_features[attachment["id"]] = attachment
    return product_feature_object(attachment)


def product_attachment(product_id: str, id_: str) -> dict:
    retrieve_product({}, product_id)
    attachment = STATE.product_features.get(id_)
    if attachment is None or attachment["product"] != product_id:
        raise no_such("product_feature", id_)
    return attachment


def retrieve_product_feature(p, product_id, id_):
    return product_feature_object(product_attachment(product_id, id_))


def detach_product_feature(p, product_id, id_):
    del STATE.product_features[product_attachment(product_id, id_)["id"]]
    return {"id": id_, "object": "product_feature", "deleted": True}


def list_product_features(p, product_id):
    retrieve_product(p, product_id)
    attachments = [product_feature_object(a) for a in reversed(STATE.product_features.values())
                   if a["product"] == product_id]
    return page(f"/v1/products/{product_id}/features", attachments, p, "product_feature")


# billing meters and meter events

def retrieve_meter(p, id_, param: str = "id", status: int = 404):
    if id_ not in STATE.meters:
        raise no_such("billing.meter", id_, param, status)
    return STATE.meters[id_]


def payload_key_settings(p: dict, param: str, default: dict, extra: tuple = ()) -> dict:
    """`customer_mapping` / `value_settings`: when given, each of its fields is required."""
    raw = p.get(param)
    if raw is None:
        return dict(default)
    if not isinstance(raw, dict):
        raise StripeError(400, "Invalid object", param=param)
    settings = {"event_payload_key": required_string(raw, "event_payload_key", 100,
                                                     f"{param}[event_payload_key]")}
    for field, allowed in extra:
        if raw.get(field) is None:
            raise missing_param(f"{param}[{field}]")
        settings[field] = one_of(raw[field], f"{param}[{field}]", allowed)
    return settings


def create_meter(p):
    display_name, event_name = required_string(p, "display_name", 250), required_string(p, "event_name", 100)
    aggregation = p.get("default_aggregation")
    if aggregation is None:
        raise missing_param("default_aggregation")
    formula = aggregation.get("formula") if isinstance(aggregation, dict) else None
    if formula is None:
        raise missing_param("default_aggregation[formula]")
    one_of(formula, "default_aggregation[formula]", ("count", "last", "sum"))
    mapping = payload_key_settings(p, "customer_mapping", {"event_payload_key": "stripe_customer_id",
                                                           "type": "by_id"}, (("type", ("by_id",)),))
    value = payload_key_settings(p, "value_settings", {"event_payload_key": "value"})
    window = one_of(p.get("event_time_window") or None, "event_time_window", ("day", "hour"))
    if any(m["event_name"] == event_name for m in STATE.meters.values()):
        raise StripeError(400, f"A meter with event_name `{event_name}` already exists.",
                          code="resource_already_exists", param="event_name")
    stamp = now()
    meter = {"id": new_id("mtr_test_", 24), "object": "billing.meter", "created": stamp,
             "customer_mapping": {"event_payload_key": mapping["event_payload_key"], "type": mapping["type"]},
             "default_aggregation": {"formula": formula}, "display_name": display_name, "event_name": event_name,
             "event_time_window": window, "livemode": False, "status": "active",
             "status_transitions": {"deactivated_at": None}, "updated": stamp, "value_settings": value}
    STATE.meters[meter["id"]] = meter
    return meter


def update_meter(p, id_):
    meter = retrieve_meter(p, id_)
    if "display_name" in p:
        meter.update(display_name=required_string(p, "display_name", 250), updated=now())
    return meter


def deactivate_meter(p, id_):
    meter = retrieve_meter(p, id_)
    if meter["status"] == "active":
        stamp = now()
        meter.update(status="inactive", updated=stamp, status_transitions={"deactivated_at": stamp})
    return meter


def reactivate_meter(p, id_):
    meter = retrieve_meter(p, id_)
    if meter["status"] == "inactive":
        meter.update(status="active", updated=now(), status_transitions={"deactivated_at": None})
    return meter


def list_meters(p):
    status = one_of(p.get("status"), "status", ("active", "inactive"))
    return page("/v1/billing/meters", list(reversed(STATE.meters.values())), p, "billing.meter",
                lambda m: status in (None, m["status"]))


METER_EVENT_PAST_S, METER_EVENT_FUTURE_S = 35 * 86400, 5 * 60


def create_meter_event(p):
    """Checked synchronously here what Stripe partly checks later (its meter error reports): an active meter
    for `event_name`, an existing customer under the meter's customer key, a whole-number value."""
    event_name = required_string(p, "event_name", 100)
    payload = p.get("payload")
    if payload is None:
        raise missing_param("payload")
    if not isinstance(payload, dict):
        raise StripeError(400, "Invalid object", param="payload")
    identifier = required_string(p, "identifier", 100) if p.get("identifier") is not None else None
    stamp = now()
    timestamp = stamp if p.get("timestamp") is None else as_int(p["timestamp"], "timestamp")
    if timestamp < stamp - METER_EVENT_PAST_S:
        raise StripeError(400, "The timestamp must be within the past 35 calendar days.",
                          code="timestamp_too_far_in_past", param="timestamp")
    if timestamp > stamp + METER_EVENT_FUTURE_S:
        raise StripeError(400, "The timestamp must not be more than 5 minutes in the future.",
                          code="timestamp_in_future", param="timestamp")
    meter = next((m for m in STATE.meters.values() if m["event_name"] == event_name), None)
    if meter is None:
        raise StripeError(400, f"No active meter found for event_name `{event_name}`.", code="no_meter",
                          param="event_name")
    if meter["status"] != "active":
        raise StripeError(400, f"The meter `{meter['id']}` for event_name `{event_name}` is inactive and no longer "
                               "accepts meter events.", code="archived_meter", param="event_name")
    customer_key = meter["customer_mapping"]["event_payload_key"]
    value_key = meter["value_settings"]["event_payload_key"]
    if payload.get(customer_key) in (None, ""):
        raise StripeError(400, f"The payload is missing `{customer_key}`, which the meter `{meter['id']}` maps to a "
                               "customer.", code="meter_event_no_customer_defined", param=f"payload[{customer_key}]")
    STATE.customer(payload[customer_key], f"payload[{customer_key}]", 400)
    value = payload.get(value_key)
    if value is None and meter["default_aggregation"]["formula"] != "count":
        raise StripeError(400, f"The payload is missing `{value_key}`, the meter `{meter['id']}`'s value key.",
                          code="meter_event_value_not_found", param=f"payload[{value_key}]")
    if value is not None and not (isinstance(value, str) and re.fullmatch(r"\d+", value)):
        raise StripeError(400, f"Invalid value `{value}` for `{value_key}`: the value must be a whole number.",
                          code="meter_event_invalid_value", param=f"payload[{value_key}]")
    if identifier in STATE.meter_identifiers:
        raise StripeError(400, f"An event already exists with identifier {identifier}.", param="identifier")
    identifier = identifier or str(uuid.uuid4())
    STATE.meter_identifiers.add(identifier)
    event = {"object": "billing.meter_event", "created": stamp, "event_name": event_name, "identifier": identifier,
             "livemode": False, "payload": dict(payload), "timestamp": timestamp}
    STATE.meter_events.append(event)
    return event



# ---------------------------------------------------------------- webhook endpoints, portal configurations

WEBHOOK_EVENT_TYPE = re.compile(r"^(\*|[a-z_]+(\.[a-z_]+)+)$")


def webhook_events(p: dict) -> list:
    events = p.get("enabled_events")
    if not isinstance(events, list) or not events:
        raise missing_param("enabled_events")
    for event in events:
        if not isinstance(event, str) or not WEBHOOK_EVENT_TYPE.match(event):
            raise StripeError(400, f"Invalid enabled_events: {event!r} is not a valid event type.",
                              param="enabled_events")
    return events


def create_webhook_endpoint(p):
    url = required_string(p, "url", 5000)
    if not url.startswith("https://"):
        raise StripeError(400, "Invalid URL: URL must be publicly accessible and use https.", param="url")
    endpoint = {"id": new_id("we_", 24), "object": "webhook_endpoint",
                "api_version": p.get("api_version"), "application": None, "created": now(),
                "description": p.get("description"), "enabled_events": webhook_events(p), "livemode": False,
                "metadata": merge_metadata({}, p.get("metadata")), "status": "enabled", "url": url}
    STATE.webhook_endpoints[endpoint["id"]] = endpoint
    # The signing secret is in the answer to the create only, as Stripe's.
    return {**endpoint, "secret": "whsec_" + new_id("", 32)}


def retrieve_webhook_endpoint(p, id_):
    if id_ not in STATE.webhook_endpoints:
        raise no_such("webhook_endpoint", id_)
    return STATE.webhook_endpoints[id_]


def update_webhook_endpoint(p, id_):
    endpoint = retrieve_webhook_endpoint(p, id_)
    if "enabled_events" in p:
        endpoint["enabled_events"] = webhook_events(p)
    if "url" in p:
        endpoint["url"] = required_string(p, "url", 5000)
    if "metadata" in p:
        endpoint["metadata"] = merge_metadata(endpoint["metadata"], p["metadata"])
    return endpoint


def delete_webhook_endpoint(p, id_):
    retrieve_webhook_endpoint(p, id_)
    del STATE.webhook_endpoints[id_]
    return {"id": id_, "object": "webhook_endpoint", "deleted": True}


def list_webhook_endpoints(p):
    return page("/v1/webhook_endpoints", list(reversed(STATE.webhook_endpoints.values())), p, "webhook_endpoint")


def portal_configuration(id_: str, p: dict, is_default: bool = False) -> dict:
    stamp = now()
    config = {"id": id_, "object": "billing_portal.configuration", "active": True, "application": None,
              "business_profile": {"headline": None, "privacy_policy_url": None, "terms_of_service_url": None},
              "created": stamp, "default_return_url": None,
              "features": {"customer_update": {"allowed_updates": [], "enabled": False},
                           "invoice_history": {"enabled": True},
                           "payment_method_update": {"enabled": True},
                           "subscription_cancel": {"cancellation_reason": {"enabled": False, "options": []},
                                                   "enabled": False, "mode": "at_period_end",
                                                   "proration_behavior": "none"},
                           "subscription_update": {"default_allowed_updates": [], "enabled": False,
                                                   "products": [], "proration_behavior": "none"}},
              "is_default": is_default, "livemode": False, "login_page": {"enabled": False, "url": None},
              "metadata": {}, "updated": stamp}
    return apply_portal_configuration(config, p)


def apply_portal_configuration(current: dict, p: dict) -> dict:
    """`current` with the changes of `p` (create's and update's params), as a new dict: a refused change
    leaves `current` untouched."""
    config = copy.deepcopy(current)
    features = p.get("features") or {}
    if not isinstance(features, dict):
        raise StripeError(400, "Invalid object", param="features")
    for name, values in features.items():
        if name not in config["features"]:
            raise StripeError(400, f"Received unknown parameter: features[{name}]", param=f"features[{name}]")
        if not isinstance(values, dict):
            raise StripeError(400, "Invalid object", param=f"features[{name}]")
        target = config["features"][name]
        for key, value in values.items():
            if key not in target:
                raise StripeError(400, f"Received unknown parameter: features[{name}][{key}]",
                                  param=f"features[{name}][{key}]")
            if key == "enabled":
                value = as_bool(values, "enabled")
            if key == "products":
                value = [portal_product(product, i) for i, product in enumerate(value or [])]
            target[key] = value
    if p.get("default_return_url") is not None:
        config["default_return_url"] = p["default_return_url"] or None
    if "metadata" in p:
        config["metadata"] = merge_metadata(config["metadata"], p["metadata"])
    update = config["features"]["subscription_update"]
    if update["enabled"] and not update["products"]:
        raise StripeError(400, "You must specify at least one product when subscription updates are enabled.",
                          param="features[subscription_update][products]")
    config["updated"] = now()
    return config


def portal_product(product: dict, index: int) -> dict:
    param = f"features[subscription_update][products][{index}]"
    product = product if isinstance(product, dict) else {}
    if product.get("product") not in STATE.products:
        raise no_such("product", str(product.get("product")), param + "[product]", 400)
    prices = product.get("prices") or []
    for price in prices:
        if price not in STATE.prices or STATE.prices[price]["product"] != product["product"]:
            raise StripeError(400, f"The price {price} does not belong to the product {product['product']}.",
                              param=param + "[prices]")
    return {"prices": prices, "product": product["product"]}


def default_portal_configuration() -> dict | None:
    """The account's default configuration: none until the Dashboard's portal settings are saved."""
    return next((c for c in STATE.portal_configurations.values() if c["is_default"]), None)


# What the Dashboard saves the first time its portal settings are saved (switching plans needs products, so
# it starts off).
DASHBOARD_PORTAL_FEATURES = {"customer_update": {"enabled": "true", "allowed_updates": ["email", "address"]},
                             "invoice_history": {"enabled": "true"},
                             "payment_method_update": {"enabled": "true"},
                             "subscription_cancel": {"enabled": "true", "mode": "at_period_end"}}


def form_values(node):
    """The control API's JSON as the API's decoded form: true -> "true", 3 -> "3" (None stays None)."""
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, dict):
        return {k: form_values(v) for k, v in node.items()}
    if isinstance(node, list):
        return [form_values(v) for v in node]
    return node if node is None else str(node)


def save_default_portal_configuration(data: dict) -> dict:
    """POST /__fake/portal/default: saving the Dashboard's portal settings. Creates the account's default
    configuration (DASHBOARD_PORTAL_FEATURES) the first time, then updates it; `data` overrides fields in the
    API's shape (`features`, `metadata`, `default_return_url`), as JSON."""
    params = form_values(data if isinstance(data, dict) else {})
    current = default_portal_configuration()
    if current is None:
        config = portal_configuration(new_id("bpc_", 24), {"features": DASHBOARD_PORTAL_FEATURES}, is_default=True)
        config = apply_portal_configuration(config, params)
    else:
        config = apply_portal_configuration(current, params)
    STATE.portal_configurations[config["id"]] = config
    return config


def create_portal_configuration(p):
    """A non-default configuration (`is_default: false`), as Stripe's API creates; only the Dashboard
    makes the default one."""
    if p.get("features") is None:
        raise missing_param("features")
    config = portal_configuration(new_id("bpc_", 24), p)
    STATE.portal_configurations[config["id"]] = config
    return config


def retrieve_portal_configuration(p, id_):
    if id_ not in STATE.portal_configurations:
        raise no_such("billing_portal.configuration", id_)
    return STATE.portal_configurations[id_]


def update_portal_configuration(p, id_):
    config = apply_portal_configuration(retrieve_portal_configuration(p, id_), p)
    active = as_bool(p, "active")
    if active is not None:
        config["active"] = active
    STATE.portal_configurations[id_] = config
    return config


def list_portal_configurations(p):
    is_default, active = as_bool(p, "is_default"), as_bool(p, "active")
    return page("/v1/billing_portal/configurations", list(reversed(STATE.portal_configurations.values())), p,
                "billing_portal.configuration",
                lambda c: is_default in (None, c["is_default"]) and active in (None, c["active"]))


# ---------------------------------------------------------------- events and their delivery (`stripe listen`)

API_VERSION = "2025-08-27.basil"  # the shapes the fake's objects model (periods on items, invoice `parent`)
REQUEST = {"id": None, "idempotency_key": None}  # the /v1 request being answered (None: a page or the clock)
BASE_URL = ""  # http://127.0.0.1:PORT, set by main()
HOSTED_PAGES = False  # --hosted-pages: Checkout and portal `url`s point at this fake's own pages
RETRY_SCALE = 1.0  # --retry-scale: multiplies the delivery backoff (1 s, 2 s, 4 s, ... capped at 30 s)
MAX_ATTEMPTS = 8
CHAOS = False  # --chaos: every event delivered twice, in an order shuffled within CHAOS_WINDOW_S
CHAOS_WINDOW_S = 0.3
DELIVERY_TIMEOUT_S = 10  # Stripe's own webhook timeout
RETRY_DAYS = [3, 5, 7]  # --retry-days: dunning retries, each this many days after the previous attempt
DUNNING_FINAL = "canceled"  # --dunning-final: what a subscription becomes after its last failed retry
DAY = 86400


def snapshot(obj: dict) -> dict:
    return copy.deepcopy(public(obj))


def emit(type_: str, obj: dict, previous: dict | None = None) -> dict:
    """Records an Event about `obj` (its full current shape) and queues it for every listening target."""
    event = {"id": new_id("evt_", 24), "object": "event", "api_version": API_VERSION, "created": now(),
             "data": {"object": snapshot(obj)}, "livemode": False, "pending_webhooks": len(STATE.targets),
             "request": dict(REQUEST), "type": type_}
    if previous is not None:
        event["data"]["previous_attributes"] = previous
    STATE.events.append(event)
    DELIVERY.submit(event, list(STATE.targets.values()))
    return event


def emit_updated(type_: str, obj: dict, before: dict) -> dict | None:
    """`type_` with `previous_attributes` (the top-level fields that changed since `before`), if any did."""
    after = snapshot(obj)
    previous = {k: before.get(k) for k in after if before.get(k) != after[k]}
    return emit(type_, obj, previous) if previous else None


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class Delivery:
    """One worker thread per target, in event order; a failed attempt is retried later with backoff without
    holding back the events after it (as Stripe does)."""

    def __init__(self):
        self.cond = threading.Condition()
        self.queues: dict = {}  # url -> heap of (due monotonic time, seq, job)
        self.threads: dict = {}
        self.seq = itertools.count()
        self.generation = 0

    def submit(self, event: dict, targets: list) -> None:
        if not targets:
            return
        body = json.dumps(event, indent=2).encode()
        with self.cond:
            for target in targets:
                for _ in range(2 if CHAOS else 1):
                    due = time.monotonic() + (random.uniform(0, CHAOS_WINDOW_S) if CHAOS else 0)
                    job = {"event": event["id"], "type": event["type"], "url": target["url"],
                           "secret": target["secret"], "body": body, "attempt": 0, "generation": self.generation}
                    heapq.heappush(self.queues.setdefault(target["url"], []), (due, next(self.seq), job))
                if target["url"] not in self.threads:
                    thread = threading.Thread(target=self.run, args=(target["url"],), daemon=True)
                    self.threads[target["url"]] = thread
                    thread.start()
            self.cond.notify_all()

    def reset(self) -> None:
        with self.cond:
            self.generation += 1
            for queue in self.queues.values():
                queue.clear()
            self.cond.notify_all()

    def run(self, url: str) -> None:
        while True:
            with self.cond:
                queue = self.queues[url]
                while not queue or queue[0][0] > time.monotonic():
                    self.cond.wait(None if not queue else max(0.0, queue[0][0] - time.monotonic()))
                job = heapq.heappop(queue)[2]
            if job["generation"] != self.generation:
                continue
            retry_in = self.attempt(job)
            if retry_in is not None:
                with self.cond:
                    if job["generation"] == self.generation:
                        heapq.heappush(queue, (time.monotonic() + retry_in, next(self.seq), job))
                        self.cond.notify_all()

    def attempt(self, job: dict):
        """POSTs the event once; the seconds to wait before the next attempt, or None when done."""
        job["attempt"] += 1
        started = time.monotonic()
        request = urllib.request.Request(job["url"], data=job["body"], method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": sign(job["secret"], int(time.time()), job["body"])})
        status, error = None, None
        try:
            with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT_S) as reply:
                status = reply.status
                reply.read()
        except urllib.error.HTTPError as e:
            status = e.code
        except (OSError, ValueError) as e:
            error = str(e) or type(e).__name__
        ok = status is not None and 200 <= status < 300
        final = ok or job["attempt"] >= MAX_ATTEMPTS
        retry_in = None if final else min(30.0, 2.0 ** (job["attempt"] - 1)) * RETRY_SCALE
        record = {"event": job["event"], "type": job["type"], "url": job["url"], "status": status,
                  "error": error, "attempt": job["attempt"], "ok": ok, "at": int(time.time()),
                  "duration_ms": round((time.monotonic() - started) * 1000), "retry_in": retry_in}
        with LOCK:
            if job["generation"] == self.generation:
                STATE.deliveries.append(record)
                if ok:
                    event = next((e for e in reversed(STATE.events) if e["id"] == job["event"]), None)
                    if event is not None:
                        event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)
        outcome = status if status is not None else f"error ({error})"
        then = "" if retry_in is None else f", retry in {retry_in:g} s"
        print(f"fake-stripe: delivery {job['event']} {job['type']} -> {job['url']} attempt {job['attempt']}: "
              f"{outcome} in {record['duration_ms']} ms{then}", file=sys.stderr, flush=True)
        return retry_in


DELIVERY = Delivery()


def list_events(p):
    types = p.get("types")
    types = (types if isinstance(types, list) else [types]) if types is not None else None
    keep = lambda e: p.get("type") in (None, e["type"]) and (types is None or e["type"] in types)
    return page("/v1/events", list(reversed(STATE.events)), p, "event", keep)


def retrieve_event(p, id_):
    event = next((e for e in STATE.events if e["id"] == id_), None)
    if event is None:
        raise no_such("event", id_)
    return event


# ---------------------------------------------------------------- cards, payment intents, invoices

# Stripe's test cards: what happens when one is attached, and when it is charged.
CARDS = {"4242424242424242": "ok", "4000000000000002": "decline", "4000000000000341": "attach_only"}
DECLINED = "Your card was declined."


def card_behavior(pm_id) -> str | None:
    return STATE.payment_methods.get(pm_id, {}).get("_behavior") if pm_id else None


def card_number(raw) -> str:
    return re.sub(r"[\s-]", "", raw or "")


def create_card(number: str, customer_id) -> dict:
    """A card payment method (attached to `customer_id` when given); a card_error when Stripe would refuse it."""
    behavior = CARDS.get(number)
    if behavior is None:
        raise StripeError(402, "Your card number is incorrect.", "card_error", code="incorrect_number",
                          param="number")
    if behavior == "decline":
        raise StripeError(402, DECLINED, "card_error", code="card_declined", decline_code="generic_decline")
    stamp = now()
    pm = {"id": new_id("pm_", 24), "object": "payment_method", "allow_redisplay": "unspecified",
          "billing_details": {"address": {"city": None, "country": None, "line1": None, "line2": None,
                                          "postal_code": None, "state": None}, "email": None, "name": None,
                              "phone": None, "tax_id": None},
          "card": {"brand": "visa", "checks": {"address_line1_check": None, "address_postal_code_check": None,
                                               "cvc_check": "pass"},
                   "country": "US", "display_brand": "visa", "exp_month": 12,
                   "exp_year": time.gmtime(stamp).tm_year + 3, "fingerprint": "fake" + number[-8:],
                   "funding": "credit", "generated_from": None, "last4": number[-4:],
                   "networks": {"available": ["visa"], "preferred": None}, "regulated_status": "unregulated",
                   "three_d_secure_usage": {"supported": True}, "wallet": None},
          "created": stamp, "customer": customer_id, "livemode": False, "metadata": {}, "type": "card",
          "_behavior": behavior}
    STATE.payment_methods[pm["id"]] = pm
    return pm


def payment_intent(amount: int, currency: str, customer_id, pm_id, metadata: dict, description) -> dict:
    pid = new_id("pi_", 24)
    pi = {"id": pid, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
          "amount_details": {"tip": {}}, "amount_received": 0, "application": None, "application_fee_amount": None,
          "automatic_payment_methods": None, "canceled_at": None, "cancellation_reason": None,
          "capture_method": "automatic", "client_secret": f"{pid}_secret_{new_id('', 25)}",
          "confirmation_method": "automatic", "created": now(), "currency": currency, "customer": customer_id,
          "description": description, "excluded_payment_method_types": None, "last_payment_error": None,
          "latest_charge": None, "livemode": False, "metadata": dict(metadata or {}), "next_action": None,
          "on_behalf_of": None, "payment_method": pm_id, "payment_method_configuration_details": None,
          "payment_method_options": {"card": {"installments": None, "mandate_options": None, "network": None,
                                              "request_three_d_secure": "automatic"}},
          "payment_method_types": ["card"], "processing": None, "receipt_email": None, "review": None,
          "setup_future_usage": None, "shipping": None, "source": None, "statement_descriptor": None,
          "statement_descriptor_suffix": None, "status": "requires_payment_method", "transfer_data": None,
          "transfer_group": None}
    STATE.payment_intents[pid] = pi
    return pi


def confirm(pi: dict, pm_id) -> bool:
    """Charges the payment intent with `pm_id`: succeeded, or requires_payment_method with the decline."""
    pi["payment_method"] = pm_id
    if card_behavior(pm_id) == "ok":
        pi.update(status="succeeded", amount_received=pi["amount"], last_payment_error=None,
                  latest_charge=new_id("ch_", 24))
        return True
    error = {"type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
             "doc_url": "https://stripe.com/docs/error-codes/card-declined", "message": DECLINED,
             "payment_method": public(STATE.payment_methods[pm_id]) if pm_id in STATE.payment_methods else None}
    if pm_id is None:
        error = {"type": "invalid_request_error", "code": "payment_intent_unexpected_state", "message":
                 "The customer has no default payment method.", "doc_url": None, "payment_method": None}
    pi.update(status="requires_payment_method", last_payment_error=error, latest_charge=new_id("ch_", 24))
    return False


def default_card(sub: dict | None, customer_id) -> str | None:
    """The card a subscription's invoices are charged to, in Stripe's order."""
    if sub and sub.get("default_payment_method"):
        return sub["default_payment_method"]
    customer = STATE.customers.get(customer_id) or {}
    return (customer.get("invoice_settings") or {}).get("default_payment_method")


def new_invoice(sub: dict, lines: list, reason: str) -> dict:
    """A stored draft invoice of `sub` (made its latest_invoice)."""
    invoice = invoice_object(sub, lines, now(), reason)
    iid = new_id("in_", 24)
    customer = STATE.customers.get(sub["customer"])
    number = None
    if customer is not None:
        number = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
        customer["next_invoice_sequence"] += 1
    for line in lines:
        line.update(id=new_id("il_", 24), invoice=iid)
    invoice.update(id=iid, auto_advance=True, number=number, next_payment_attempt=None,
                   payments={"object": "list", "data": [], "has_more": False, "total_count": 0,
                             "url": f"/v1/invoice_payments?invoice={iid}"})
    invoice["lines"]["url"] = f"/v1/invoices/{iid}/lines"
    STATE.invoices[iid] = invoice
    sub["latest_invoice"] = iid
    return invoice


def finalize(invoice: dict) -> None:
    stamp = now()
    invoice.update(status="open", effective_at=stamp)
    invoice["status_transitions"]["finalized_at"] = stamp
    emit("invoice.finalized", invoice)


def invoice_subscription(invoice: dict):
    sid = ((invoice.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    return STATE.subscriptions.get(sid)


def charge_invoice(invoice: dict, pm_id) -> bool:
    """One payment attempt: invoice.paid + invoice.payment_succeeded + payment_intent.succeeded, or
    invoice.payment_failed + payment_intent.payment_failed. A zero invoice is paid without a charge."""
    stamp = now()
    invoice.update(attempted=True, attempt_count=invoice["attempt_count"] + 1)
    pi = None
    if invoice["amount_due"] > 0:
        existing = [x["payment"]["payment_intent"] for x in invoice["payments"]["data"]]
        pi = STATE.payment_intents[existing[0]] if existing else None
        if pi is None:
            description = {"subscription_create": "Subscription creation", "subscription_cycle":
                           "Subscription cycle", "subscription_update": "Subscription update"}.get(
                invoice["billing_reason"])
            pi = payment_intent(invoice["amount_due"], invoice["currency"], invoice["customer"], pm_id, {},
                                description)
            invoice["payments"]["data"].append({
                "id": new_id("inpay_", 24), "object": "invoice_payment", "amount_paid": None,
                "amount_requested": invoice["amount_due"], "created": stamp, "currency": invoice["currency"],
                "invoice": invoice["id"], "is_default": True, "livemode": False,
                "payment": {"type": "payment_intent", "payment_intent": pi["id"]}, "status": "open",
                "status_transitions": {"canceled_at": None, "paid_at": None}})
            invoice["payments"]["total_count"] = 1
        if not confirm(pi, pm_id):
            invoice["next_payment_attempt"] = None
            emit("invoice.payment_failed", invoice)
            emit("payment_intent.payment_failed", pi)
            return False
        payment = invoice["payments"]["data"][0]
        payment.update(amount_paid=invoice["amount_due"], status="paid")
        payment["status_transitions"]["paid_at"] = stamp
    invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0, next_payment_attempt=None)
    invoice["status_transitions"]["paid_at"] = stamp
    emit("invoice.paid", invoice)
    emit("invoice.payment_succeeded", invoice)
    if pi is not None:
        emit("payment_intent.succeeded", pi)
    return True


def collect(invoice: dict, sub: dict, pm_id: str | None = None) -> bool:
    """Charges a subscription's invoice to its card (or `pm_id`); on a failure the subscription goes past_due
    and the retries are scheduled; on a success after failures it is active again."""
    ok = charge_invoice(invoice, pm_id or default_card(sub, sub["customer"]))
    before = snapshot(sub)
    dunning = sub.get("_dunning")
    if ok:
        if dunning and dunning["invoice"] == invoice["id"]:
            sub.pop("_dunning")
        if sub["status"] in ("past_due", "unpaid", "incomplete"):
            sub["status"] = "active"
        emit_updated("customer.subscription.updated", sub, before)
        return True
    if not dunning or dunning["invoice"] != invoice["id"]:
        dunning = sub["_dunning"] = {"invoice": invoice["id"], "failures": 0, "next_at": None}
    dunning["failures"] += 1
    if dunning["failures"] <= len(RETRY_DAYS):
        dunning["next_at"] = now() + int(RETRY_DAYS[dunning["failures"] - 1] * DAY)
        invoice["next_payment_attempt"] = dunning["next_at"]
        if sub["status"] in ("active", "trialing"):
            sub["status"] = "past_due"
        emit_updated("customer.subscription.updated", sub, before)
    else:  # the last retry failed: Stripe's "if all retries for a payment fail" setting
        sub.pop("_dunning")
        if DUNNING_FINAL == "canceled":
            end_subscription(sub, "payment_failed")
        else:
            sub["status"] = DUNNING_FINAL
            emit_updated("customer.subscription.updated", sub, before)
    return False


def end_subscription(sub: dict, reason: str) -> None:
    stamp = now()
    sub.update(status="canceled", ended_at=stamp, canceled_at=sub.get("canceled_at") or stamp)
    sub["cancellation_details"]["reason"] = reason
    sub.pop("_dunning", None)
    cancel_schedule_of(sub, stamp)
    emit("customer.subscription.deleted", sub)


def period_seconds(price: dict) -> int:
    recurring = price.get("recurring") or {"interval": "month", "interval_count": 1}
    return INTERVAL_SECONDS[recurring["interval"]] * int(recurring.get("interval_count") or 1)


def price_name(price: dict) -> str:
    """The product's name, else the price's nickname, else its lookup key made readable (starter_monthly:
    "Starter monthly")."""
    key = (price.get("lookup_key") or "").replace("_", " ").strip()
    return ((STATE.products.get(price["product"]) or {}).get("name") or price.get("nickname")
            or (key[:1].upper() + key[1:] if key else price["id"]))


def period_lines(sub: dict, start: int, end: int, trial: bool = False) -> list:
    lines = []
    for item in sub["items"]["data"]:
        price, quantity = item["price"], item["quantity"]
        if quantity is None:  # metered: billed from its meter, not up front
            continue
        amount = 0 if trial else (price["unit_amount"] or 0) * quantity
        text = f"Trial period for {price_name(price)}" if trial else f"{quantity} × {price_name(price)}"
        lines.append(invoice_line(sub, item, price, amount, text, False, start, end, quantity))
    return lines


def retrieve_invoice(p, id_):
    if id_ not in STATE.invoices:
        raise no_such("invoice", id_)
    return STATE.invoices[id_]


def list_invoices(p):
    def keep(x):
        sub = ((x.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        return (p.get("customer") in (None, x["customer"]) and p.get("status") in (None, x["status"])
                and p.get("subscription") in (None, sub))
    return page("/v1/invoices", list(reversed(STATE.invoices.values())), p, "invoice", keep)


def pay_invoice(p, id_):
    """`POST /v1/invoices/{id}/pay`: one attempt with `payment_method`, else the subscription's card."""
    invoice = retrieve_invoice(p, id_)
    if invoice["status"] != "open":
        raise StripeError(400, f"Invoice is already {invoice['status']}." if invoice["status"] == "paid"
                          else f"You can only pay an open invoice (this one is {invoice['status']}).",
                          code="invoice_not_open")
    sub = invoice_subscription(invoice)
    pm_id = p.get("payment_method") or default_card(sub, invoice["customer"])
    if p.get("payment_method") is not None and p["payment_method"] not in STATE.payment_methods:
        raise no_such("PaymentMethod", p["payment_method"], "payment_method", 400)
    ok = collect(invoice, sub, pm_id) if sub is not None else charge_invoice(invoice, pm_id)
    if not ok:
        raise StripeError(402, DECLINED, "card_error", code="card_declined", decline_code="generic_decline")
    return invoice


def retrieve_payment_intent(p, id_):
    if id_ not in STATE.payment_intents:
        raise no_such("payment_intent", id_)
    return STATE.payment_intents[id_]


def retrieve_payment_method(p, id_):
    if id_ not in STATE.payment_methods:
        raise no_such("payment_method", id_)
    return public(STATE.payment_methods[id_])


def replace_card(customer_id: str, number: str) -> dict:
    """What the portal's "update payment method" does: a new card becomes the customer's default and that
    of the customer's live subscriptions."""
    customer = STATE.customer(customer_id)
    pm = create_card(number, customer_id)
    before = snapshot(customer)
    customer["invoice_settings"]["default_payment_method"] = pm["id"]
    emit_updated("customer.updated", customer, before)
    for sub in live_subscriptions(customer_id):
        before = snapshot(sub)
        sub["default_payment_method"] = pm["id"]
        emit_updated("customer.subscription.updated", sub, before)
    return pm


def live_subscriptions(customer_id: str) -> list:
    return [s for s in reversed(STATE.subscriptions.values())
            if s["customer"] == customer_id and s["status"] not in ("canceled", "incomplete_expired")]


# ---------------------------------------------------------------- Checkout: what paying a session creates

def start_subscription(session: dict, customer_id: str, pm_id: str) -> tuple:
    """The subscription (and its first invoice, charged) a paid subscription-mode session creates."""
    extras = STATE.session_extras.get(session["id"], {})
    data = extras.get("subscription_data") or {}
    items = [(STATE.prices.get(i["price"]["id"], i["price"]), i["quantity"])
             for i in STATE.line_items[session["id"]] if i["price"]["recurring"]]
    stamp = now()
    trial_days = data.get("trial_period_days")
    trial_days = int(trial_days) if trial_days not in (None, "") else None
    end = stamp + trial_days * DAY if trial_days else stamp + period_seconds(items[0][0])
    sub = subscription_object({"customer": customer_id, "metadata": data.get("metadata") or {},
                               "current_period_start": stamp, "current_period_end": end,
                               "status": "trialing" if trial_days else "active",
                               "trial_end": end if trial_days else None}, items)
    sub.update(default_payment_method=pm_id, billing_cycle_anchor=end if trial_days else stamp,
               description=data.get("description"))
    STATE.subscriptions[sub["id"]] = sub
    invoice = new_invoice(sub, period_lines(sub, stamp, end, bool(trial_days)), "subscription_create")
    emit("customer.subscription.created", sub)
    emit("invoice.created", invoice)
    finalize(invoice)
    charge_invoice(invoice, pm_id)
    return sub, invoice


class PageError(Exception):
    pass


def checkout_pay(session: dict, number: str) -> None:
    """Pays an open session with the card `number`, as Stripe's hosted page does; a PageError (nothing
    completed) when the card is refused or the session is no longer open."""
    expire_if_due(session)
    if session["status"] == "complete":
        raise PageError("This Checkout Session has already been paid.")
    if session["status"] != "open":
        raise PageError("This Checkout Session has expired.")
    if session["mode"] not in ("subscription", "payment"):
        raise PageError("The fake's hosted page pays only subscription and payment sessions.")
    extras = STATE.session_extras.setdefault(session["id"], {})
    behavior = CARDS.get(number)
    if behavior is None:
        raise PageError("Your card number is incorrect.")
    trial = session["mode"] == "subscription" and (extras.get("subscription_data") or {}).get("trial_period_days")
    charged_now = session["amount_total"] > 0 and not trial
    if behavior == "decline" or (behavior == "attach_only" and charged_now):
        if session["mode"] == "payment":
            pi = STATE.payment_intents.get(extras.get("payment_intent") or "")
            if pi is None:
                pi = payment_intent(session["amount_total"], session["currency"], session["customer"], None,
                                    (extras.get("payment_intent_data") or {}).get("metadata"), None)
                extras["payment_intent"] = pi["id"]
            pm = STATE.payment_methods.get(extras.get("declined_card") or "")
            confirm(pi, None if pm is None else pm["id"])
            pi["last_payment_error"].update(type="card_error", code="card_declined", decline_code="generic_decline",
                                            message=DECLINED)
            emit("payment_intent.payment_failed", pi)
        raise PageError(DECLINED)
    customer_id = session["customer"]
    if customer_id is None and session["mode"] == "subscription":
        email = session.get("customer_email")
        customer = create_customer({"email": email} if email else {})
        emit("customer.created", customer)
        customer_id = customer["id"]
    pm = create_card(number, customer_id)
    customer = STATE.customers.get(customer_id) if customer_id else None
    if session["mode"] == "subscription":
        cbefore = snapshot(customer)
        customer["invoice_settings"]["default_payment_method"] = pm["id"]
        emit_updated("customer.updated", customer, cbefore)
        sub, invoice = start_subscription(session, customer_id, pm["id"])
        session.update(subscription=sub["id"], invoice=invoice["id"],
                       payment_status="no_payment_required" if trial else "paid")
    else:
        pi = STATE.payment_intents.get(extras.get("payment_intent") or "")
        if pi is None:
            pi = payment_intent(session["amount_total"], session["currency"], customer_id, pm["id"],
                                (extras.get("payment_intent_data") or {}).get("metadata"), None)
            extras["payment_intent"] = pi["id"]
        pi["customer"] = customer_id
        confirm(pi, pm["id"])
        emit("payment_intent.succeeded", pi)
        session.update(payment_intent=pi["id"], payment_status="paid")
    session.update(status="complete", customer=customer_id, customer_details={
        "address": None, "email": (customer or {}).get("email") or session.get("customer_email"),
        "name": (customer or {}).get("name"), "phone": None, "tax_exempt": "none", "tax_ids": []})
    emit("checkout.session.completed", session)


def expire_if_due(session: dict) -> bool:
    if session["status"] == "open" and now() >= session["expires_at"]:
        session["status"] = "expired"
        emit("checkout.session.expired", session)
        return True
    return False


# ---------------------------------------------------------------- the test clock

def set_clock(at: int) -> None:
    global CLOCK_OFFSET
    CLOCK_OFFSET = at - int(time.time())


def due_work(limit: int):
    """The earliest (time, order, kind, object) due at or before `limit`, or None."""
    found = []
    for sub in STATE.subscriptions.values():
        status, end = sub["status"], sub["items"]["data"][0]["current_period_end"]
        if status == "trialing" and sub.get("trial_end") and not sub.get("_trial_will_end_sent"):
            found.append((max(sub["trial_end"] - 3 * DAY, sub["created"]), 1, "trial_will_end", sub))
        dunning = sub.get("_dunning")
        if dunning and dunning.get("next_at") and status in ("past_due", "active"):
            found.append((dunning["next_at"], 0, "retry", sub))
        if status in ("active", "trialing", "past_due"):
            found.append((end, 2, "period_end", sub))
    for session in STATE.sessions.values():
        if session["status"] == "open":
            found.append((session["expires_at"], 3, "expire", session))
    found = [x for x in found if x[0] <= limit]
    return min(found, key=lambda x: (x[0], x[1]), default=None)


def apply_schedule(sub: dict, at: int):
    """At a period boundary: the schedule's phase starting now sets the items; past the last phase the
    schedule releases the subscription or cancels it. Returns "cancel" when the subscription must end."""
    schedule = STATE.schedules.get(sub.get("schedule") or "")
    if schedule is None or schedule["status"] != "active":
        return None
    phase = next((ph for ph in schedule["phases"] if ph["start_date"] <= at < ph["end_date"]), None)
    if phase is None:
        if schedule["end_behavior"] == "cancel":
            schedule.update(status="completed", completed_at=at, current_phase=None)
            emit("subscription_schedule.completed", schedule)
            return "cancel"
        sub["schedule"] = None
        schedule.update(status="released", released_at=at, released_subscription=sub["id"], current_phase=None)
        emit("subscription_schedule.released", schedule)
        return None
    # The subscription's items become exactly the phase's: an item whose price stays keeps its id (with the
    # phase's quantity), a new price gets a new item, a price the phase lacks is removed.
    wanted = [(item["price"], item["quantity"]) for item in phase["items"]]
    current = [(item["price"]["id"], item["quantity"]) for item in sub["items"]["data"]]
    if wanted != current and all(price in STATE.prices for price, _ in wanted):
        kept = {item["price"]["id"]: item for item in sub["items"]["data"]}
        first = sub["items"]["data"][0]
        start, end = first["current_period_start"], first["current_period_end"]
        items = []
        for price, quantity in wanted:
            item = kept.pop(price, None) or subscription_item(sub["id"], STATE.prices[price], quantity, start, end)
            item["quantity"] = quantity
            items.append(item)
        sub["items"].update(data=items, total_count=len(items))
    schedule["current_phase"] = {"end_date": phase["end_date"], "start_date": phase["start_date"]}
    emit("subscription_schedule.updated", schedule)
    return None


def renew(sub: dict, at: int) -> dict:
    """The period end: cancel (cancel_at_period_end), or the next period with its invoice, charged."""
    before = snapshot(sub)
    if sub["cancel_at_period_end"] or apply_schedule(sub, at) == "cancel":
        end_subscription(sub, sub["cancellation_details"].get("reason") or "cancellation_requested")
        return {"action": "canceled", "subscription": sub["id"]}
    end = at + period_seconds(sub["items"]["data"][0]["price"])
    for item in sub["items"]["data"]:
        item.update(current_period_start=at, current_period_end=end)
    trial_ended = sub["status"] == "trialing"
    if trial_ended:
        sub["status"] = "active"
    lines = list(sub.pop("_pending_prorations", [])) + period_lines(sub, at, end)
    invoice = new_invoice(sub, lines, "subscription_cycle")
    emit_updated("customer.subscription.updated", sub, before)
    emit("invoice.created", invoice)
    finalize(invoice)
    ok = collect(invoice, sub)
    return {"action": "trial_ended" if trial_ended else "renewed", "subscription": sub["id"],
            "invoice": invoice["id"], "paid": ok, "status": sub["status"], "current_period_end": end}


def run_clock(target: int) -> list:
    """Moves the clock to `target`, running what falls due on the way, in time order."""
    done = []
    for _ in range(10000):
        work = due_work(target)
        if work is None:
            break
        at, _, kind, obj = work
        set_clock(max(at, now()))
        if kind == "trial_will_end":
            obj["_trial_will_end_sent"] = True
            emit("customer.subscription.trial_will_end", obj)
            done.append({"at": at, "action": "trial_will_end", "subscription": obj["id"]})
        elif kind == "retry":
            invoice = STATE.invoices[obj["_dunning"]["invoice"]]
            obj["_dunning"]["next_at"] = None
            if invoice["status"] != "open":
                obj.pop("_dunning")
                continue
            ok = collect(invoice, obj)
            done.append({"at": at, "action": "payment_retry", "subscription": obj["id"], "invoice": invoice["id"],
                         "paid": ok, "status": obj["status"]})
        elif kind == "period_end":
            done.append({"at": at, **renew(obj, at)})
        else:
            expire_if_due(obj)
            done.append({"at": at, "action": "checkout_session_expired", "checkout_session": obj["id"]})
    set_clock(max(target, now()))
    return done


# ---------------------------------------------------------------- hosted pages: Checkout and the portal

PAGE_STYLE = ("body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}"
              "table{border-collapse:collapse;width:100%}td{padding:.3rem 0}.amount{text-align:right}"
              "#error{color:#b00020}button{margin:.3rem .3rem 0 0}")


def html_page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            '<link rel="icon" href="data:,"><meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{PAGE_STYLE}</style></head><body>{body}</body></html>")


def money(amount, currency) -> str:
    return f"{(amount or 0) / 100:,.2f} {(currency or 'usd').upper()}"


def interval_text(price: dict) -> str:
    recurring = price.get("recurring")
    if not recurring:
        return "one time"
    count = int(recurring.get("interval_count") or 1)
    return f"per {recurring['interval']}" if count == 1 else f"every {count} {recurring['interval']}s"


def checkout_page(session: dict, error: str | None = None, card: str = "4242 4242 4242 4242") -> str:
    rows = "".join(
        f'<tr class="line-item"><td class="name">{escape(price_name(item["price"]))}'
        + (f' × {item["quantity"]}' if item["quantity"] is not None else " (metered: billed on usage)")
        + f'</td><td class="interval">{escape(interval_text(item["price"]))}</td>'
        f'<td class="amount">{money(item["amount_total"], item["currency"])}</td></tr>'
        for item in STATE.line_items.get(session["id"], []))
    trial = (STATE.session_extras.get(session["id"], {}).get("subscription_data") or {}).get("trial_period_days")
    notice = f'<p id="trial">{escape(str(trial))}-day free trial</p>' if trial else ""
    status = f'<p id="status">Status: {escape(session["status"])}</p>'
    problem = f'<p id="error">{escape(error)}</p>' if error else ""
    form = ('<form method="post">'
            f'<label for="card">Card number</label> <input id="card" name="card" value="{escape(card)}" '
            'autocomplete="cc-number" inputmode="numeric"><br>'
            '<button id="pay" type="submit" name="action" value="pay">Pay</button>'
            '<button id="decline" type="submit" name="action" value="decline">Pay with a declined card</button>'
            '<button id="back" type="submit" name="action" value="back">Back</button></form>')
    body = (f'<h1>Checkout</h1><p id="mode">Mode: {escape(session["mode"])}</p>{status}{notice}'
            f'<table id="line-items">{rows}</table>'
            f'<p id="total">Total: {money(session["amount_total"], session["currency"])}</p>{problem}{form}')
    return html_page("Checkout (fake Stripe)", body)


def checkout_post(session: dict, form: dict):
    """(status, html, redirect location)."""
    action = form.get("action", "pay")
    if action == "back":
        return 303, "", session.get("cancel_url") or f"{BASE_URL}/checkout/{session['id']}"
    number = "4000 0000 0000 0002" if action == "decline" else form.get("card", "")
    try:
        checkout_pay(session, card_number(number))
    except PageError as e:
        return 200, checkout_page(session, str(e), number), None
    success = (session.get("success_url") or f"{BASE_URL}/checkout/{session['id']}")
    return 303, "", success.replace("{CHECKOUT_SESSION_ID}", session["id"])


def portal_allows(portal: dict, feature: str) -> bool:
    """Whether the session's configuration enables `feature` (everything, for a session without one)."""
    config = STATE.portal_configurations.get(portal.get("configuration") or "")
    return config is None or bool(config["features"][feature]["enabled"])


def portal_switch_prices(portal: dict, current: dict) -> list:
    """The prices the portal offers to switch to: those of the configuration's `subscription_update`
    products (every price of a product listed without `prices`), other than `current`; every other licensed
    recurring price with a lookup key for a session without a configuration."""
    config = STATE.portal_configurations.get(portal.get("configuration") or "")
    if config is not None and not config["features"]["subscription_update"]["enabled"]:
        return []
    offered = None
    if config is not None:
        offered = {(product["product"], price) for product in config["features"]["subscription_update"]["products"]
                   for price in product["prices"] or [None]}
    return [p for p in STATE.prices.values()
            if p["active"] and p["recurring"] and p["lookup_key"] and p["id"] != current["id"]
            and p["recurring"].get("usage_type", "licensed") == "licensed"
            and (offered is None or (p["product"], p["id"]) in offered or (p["product"], None) in offered)]


def portal_page(portal: dict, error: str | None = None) -> str:
    """The buttons follow the session's configuration: switches (`subscription_update`), `#cancel`
    (`subscription_cancel`; `#resume` always shows on a subscription set to cancel), the card buttons
    (`payment_method_update`)."""
    customer_id = portal["customer"]
    subs = live_subscriptions(customer_id)
    problem = f'<p id="error">{escape(error)}</p>' if error else ""
    back = (f'<p><a id="return" href="{escape(portal["return_url"])}">Return</a></p>'
            if portal.get("return_url") else "")
    if not subs:
        return html_page("Billing portal (fake Stripe)",
                         f'<h1>Billing</h1>{problem}<p id="no-subscription">No active subscription.</p>{back}')
    sub = subs[0]
    item = sub["items"]["data"][0]
    price = item["price"]
    pm = STATE.payment_methods.get(default_card(sub, customer_id) or "")
    last4 = pm["card"]["last4"] if pm else "none"
    end = item["current_period_end"]
    invoice = STATE.invoices.get(sub.get("latest_invoice") or "")
    switches = "".join(
        f'<button type="submit" name="switch" value="{escape(p["id"])}" data-price="{escape(p["lookup_key"])}">'
        f'Switch to {escape(price_name(p))} ({money(p["unit_amount"], p["currency"])} '
        f'{escape(interval_text(p))})</button>'
        for p in portal_switch_prices(portal, price))
    at_end = sub["cancel_at_period_end"]
    buttons = switches
    if at_end:
        buttons += '<button id="resume" type="submit" name="action" value="resume">Renew plan</button>'
    elif portal_allows(portal, "subscription_cancel"):
        buttons += '<button id="cancel" type="submit" name="action" value="cancel">Cancel plan</button>'
    if portal_allows(portal, "payment_method_update"):
        buttons += ('<button id="card-failing" type="submit" name="action" value="card-failing">Use a card whose '
                    'charges fail (4000 0000 0000 0341)</button>'
                    '<button id="card-ok" type="submit" name="action" value="card-ok">Use a good card '
                    '(4242 4242 4242 4242)</button>')
    if invoice is not None and invoice["status"] == "open":
        buttons += (f'<button id="pay-invoice" type="submit" name="action" value="pay-invoice">Pay the open '
                    f'invoice ({money(invoice["amount_remaining"], invoice["currency"])})</button>')
    body = (f'<h1>Billing</h1>{problem}<dl id="subscription" data-subscription="{escape(sub["id"])}">'
            f'<dt>Plan</dt><dd id="plan">{escape(price_name(price))} × {item["quantity"]} '
            f'({money(price["unit_amount"], price["currency"])} {escape(interval_text(price))})</dd>'
            f'<dt>Status</dt><dd id="status">{escape(sub["status"])}</dd>'
            f'<dt>Current period ends</dt><dd id="period-end" data-unix="{end}">'
            f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(end))}</dd>'
            f'<dt>Cancels at period end</dt><dd id="cancel-at-period-end">{"yes" if at_end else "no"}</dd>'
            f'<dt>Card</dt><dd id="card-last4">{escape(last4)}</dd></dl>'
            f'<form method="post">{buttons}</form>{back}')
    return html_page("Billing portal (fake Stripe)", body)


def portal_post(portal: dict, form: dict):
    """(status, html, redirect location): the action through the same functions as the API."""
    subs = live_subscriptions(portal["customer"])
    action = form.get("action")
    try:
        if action in ("card-failing", "card-ok") and not portal_allows(portal, "payment_method_update"):
            raise PageError("This portal does not let customers update their payment method.")
        if action == "cancel" and not portal_allows(portal, "subscription_cancel"):
            raise PageError("This portal does not let customers cancel their subscription.")
        if action in ("card-failing", "card-ok"):
            replace_card(portal["customer"], "4000000000000341" if action == "card-failing" else "4242424242424242")
        elif not subs:
            raise PageError("No active subscription.")
        elif form.get("switch"):
            item = subs[0]["items"]["data"][0]
            if form["switch"] not in [p["id"] for p in portal_switch_prices(portal, item["price"])]:
                raise PageError("This portal does not offer that plan.")
            update_subscription({"items": [{"id": item["id"], "price": form["switch"]}],
                                 "proration_behavior": "create_prorations"}, subs[0]["id"])
        elif action == "cancel":
            update_subscription({"cancel_at_period_end": "true"}, subs[0]["id"])
        elif action == "resume":
            update_subscription({"cancel_at_period_end": "false"}, subs[0]["id"])
        elif action == "pay-invoice":
            invoice = STATE.invoices.get(subs[0].get("latest_invoice") or "")
            if invoice is None or invoice["status"] != "open":
                raise PageError("There is no open invoice to pay.")
            pay_invoice({}, invoice["id"])
        else:
            raise PageError(f"Unknown action: {action}")
    except (PageError, StripeError) as e:
        return 200, portal_page(portal, str(e)), None
    return 303, "", f"{BASE_URL}/portal/{portal['id']}"


def page_request(method: str, path: str, form: dict):
    """(status, html, redirect location) for GET|POST /checkout/{id} and /portal/{id}. Runs under LOCK."""
    kind, _, id_ = path.strip("/").partition("/")
    if kind == "checkout" and id_ in STATE.sessions:
        session = STATE.sessions[id_]
        if method == "POST":
            return checkout_post(session, form)
        expire_if_due(session)
        return 200, checkout_page(session), None
    if kind == "portal" and id_ in STATE.portal_sessions:
        portal = STATE.portal_sessions[id_]
        return portal_post(portal, form) if method == "POST" else (200, portal_page(portal), None)
    return 404, html_page("Not found (fake Stripe)", f"<h1>Not found</h1><p>No such page: {escape(path)}</p>"), None


ROUTES = [(method, re.compile(pattern), handler) for method, pattern, handler in [
    ("POST", r"/v1/customers", api_create_customer),
    ("GET", r"/v1/customers", list_customers),
    ("GET", r"/v1/customers/search", search_customers),
    ("GET", r"/v1/customers/([^/]+)", retrieve_customer),
    ("POST", r"/v1/customers/([^/]+)", update_customer),
    ("DELETE", r"/v1/customers/([^/]+)", delete_customer),
    ("POST", r"/v1/products", create_product),
    ("GET", r"/v1/products", list_products),
    ("GET", r"/v1/products/([^/]+)", retrieve_product),
    ("POST", r"/v1/products/([^/]+)", update_product),
    ("POST", r"/v1/products/([^/]+)/features", attach_product_feature),
    ("GET", r"/v1/products/([^/]+)/features", list_product_features),
    ("GET", r"/v1/products/([^/]+)/features/([^/]+)", retrieve_product_feature),
    ("DELETE", r"/v1/products/([^/]+)/features/([^/]+)", detach_product_feature),
    ("POST", r"/v1/prices", create_price),
    ("GET", r"/v1/prices", list_prices),
    ("GET", r"/v1/prices/([^/]+)", retrieve_price),
    ("POST", r"/v1/prices/([^/]+)", update_price),
    ("POST", r"/v1/entitlements/features", create_feature),
    ("GET", r"/v1/entitlements/features", list_features),
    ("GET", r"/v1/entitlements/features/([^/]+)", retrieve_feature),
    ("POST", r"/v1/entitlements/features/([^/]+)", update_feature),
    ("POST", r"/v1/billing/meters", create_meter),
    ("GET", r"/v1/billing/meters", list_meters),
    ("GET", r"/v1/billing/meters/([^/]+)", retrieve_meter),
    ("POST", r"/v1/billing/meters/([^/]+)", update_meter),
    ("POST", r"/v1/billing/meters/([^/]+)/deactivate", deactivate_meter),
    ("POST", r"/v1/billing/meters/([^/]+)/reactivate", reactivate_meter),
    ("POST", r"/v1/billing/meter_events", create_meter_event),
    ("GET", r"/v1/subscriptions", list_subscriptions),
    ("GET", r"/v1/subscriptions/([^/]+)", get_subscription),
    ("POST", r"/v1/subscriptions/([^/]+)", update_subscription),
    ("DELETE", r"/v1/subscriptions/([^/]+)", cancel_subscription),
    ("POST", r"/v1/checkout/sessions", create_checkout_session),
    ("GET", r"/v1/checkout/sessions/([^/]+)", retrieve_checkout_session),
    ("GET", r"/v1/checkout/sessions/([^/]+)/line_items", list_checkout_line_items),
    ("POST", r"/v1/billing_portal/sessions", create_portal_session),
    ("POST", r"/v1/billing_portal/configurations", create_portal_configuration),
    ("GET", r"/v1/billing_portal/configurations", list_portal_configurations),
    ("GET", r"/v1/billing_portal/configurations/([^/]+)", retrieve_portal_configuration),
    ("POST", r"/v1/billing_portal/configurations/([^/]+)", update_portal_configuration),
    ("POST", r"/v1/webhook_endpoints", create_webhook_endpoint),
    ("GET", r"/v1/webhook_endpoints", list_webhook_endpoints),
    ("GET", r"/v1/webhook_endpoints/([^/]+)", retrieve_webhook_endpoint),
    ("POST", r"/v1/webhook_endpoints/([^/]+)", update_webhook_endpoint),
    ("DELETE", r"/v1/webhook_endpoints/([^/]+)", delete_webhook_endpoint),
    ("POST", r"/v1/invoices/create_preview", create_preview_invoice),
    ("POST", r"/v1/subscription_schedules", create_schedule),
    ("GET", r"/v1/subscription_schedules/([^/]+)", retrieve_schedule),
    ("POST", r"/v1/subscription_schedules/([^/]+)", update_schedule),
    ("POST", r"/v1/subscription_schedules/([^/]+)/release", release_schedule),
    ("GET", r"/v1/events", list_events),
    ("GET", r"/v1/events/([^/]+)", retrieve_event),
    ("GET", r"/v1/invoices", list_invoices),
    ("GET", r"/v1/invoices/([^/]+)", retrieve_invoice),
    ("POST", r"/v1/invoices/([^/]+)/pay", pay_invoice),
    ("GET", r"/v1/payment_intents/([^/]+)", retrieve_payment_intent),
    ("GET", r"/v1/payment_methods/([^/]+)", retrieve_payment_method),
]]


def lookup(id_: str):
    if id_.startswith("cus_") and id_ in STATE.customers:
        return retrieve_customer({}, id_)
    for prefix, table in (("sub_sched_", STATE.schedules), ("bpc_", STATE.portal_configurations),
                          ("sub_", STATE.subscriptions), ("price_", STATE.prices), ("cs_", STATE.sessions),
                          ("feat_", STATE.features), ("in_", STATE.invoices), ("pi_", STATE.payment_intents),
                          ("pm_", STATE.payment_methods)):
        if id_.startswith(prefix) and id_ in table:
            return public(table[id_]) if prefix in ("sub_", "pm_") else table[id_]
    return STATE.products.get(id_)  # any id: Stripe lets a product be created with an id of the caller's


def expand(node, parts: list) -> None:
    """`expand[]=customer`, `expand[]=data.customer`, `expand[]=line_items`: ids become their objects."""
    if not parts or not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    if head == "line_items" and node.get("object") == "checkout.session":
        node["line_items"] = list_checkout_line_items({}, node["id"])
    value = node.get(head)
    if isinstance(value, str) and lookup(value) is not None:
        node[head] = value = copy.deepcopy(lookup(value))
    for child in value if isinstance(value, list) else [value]:
        expand(child, rest)


def authenticate(header) -> str:
    if not header:
        raise StripeError(401, "You did not provide an API key. You need to provide your API key in the "
                               "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                               "YOUR_SECRET_KEY'). " + SUPPORT)
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "basic":
        credential = base64.b64decode(credential + "==").decode(errors="replace").split(":")[0]
    if credential.startswith(("sk_test_", "rk_test_")):
        return credential
    raise StripeError(401, f"Invalid API Key provided: {credential[:8]}{'*' * 8}{credential[-4:]}")


def claim(slot, method: str, path: str, params: dict):
    """None when this request now owns the idempotency key; the stored entry to replay; or a StripeError."""
    entry, key = STATE.idempotency.get(slot), slot[1]
    if entry is None:
        STATE.idempotency[slot] = {"method": method, "path": path, "params": params, "done": False}
        return None
    if (entry["method"], entry["path"]) != (method, path):
        raise StripeError(400, "Keys for idempotent requests can only be used for the same endpoint they were "
                               f"first used for ('{entry['method']} {entry['path']}' vs '{method} {path}'). Try "
                               f"using a key other than '{key}' if you meant to execute a different request.",
                          "idempotency_error")
    if entry["params"] != params:
        raise StripeError(400, "Keys for idempotent requests can only be used with the same parameters they were "
                               f"first used with. Try using a key other than '{key}' if you meant to execute a "
                               "different request.", "idempotency_error")
    if not entry["done"]:
        raise StripeError(409, "There is currently another in-progress request using this Idempotent Key (that "
                               "probably means you submitted twice, and the other request is still going "
                               f"through): {key}. Please try again later.", "idempotency_error")
    return entry


def find_route(method: str, path: str):
    for route_method, pattern, handler in ROUTES:
        match = pattern.fullmatch(path)
        if match and route_method == method:
            return lambda params: handler(params, *match.groups())
    raise StripeError(404, f"Unrecognized request URL ({method}: {path}). {SUPPORT}")


def execute(endpoint, method: str, path: str, params: dict):
    """The endpoint's (status, body text), or an injected failure; the boolean says whether to store it."""
    failure = STATE.take_failure(method, path)
    if failure:  # like Stripe, rate-limited and 5xx answers are not saved: a retry with the key runs again
        return failure.status, json.dumps({"error": failure.error}), failure.status < 429
    try:
        body = copy.deepcopy(endpoint(params))
        expansions = params.get("expand")
        for expansion in expansions if isinstance(expansions, list) else []:
            expand(body, expansion.split("."))
        return 200, json.dumps(body), True
    except StripeError as e:
        return e.status, json.dumps({"error": e.error}), True


def api(method: str, path: str, params: dict, headers, record: dict):
    """Answers one /v1 request: (status, body text, extra headers)."""
    key = headers.get("Idempotency-Key") if method in ("POST", "DELETE") else None
    extra = {"Request-Id": new_id("req_"), **({"Idempotency-Key": key} if key else {})}
    try:
        api_key = authenticate(headers.get("Authorization"))
        endpoint = find_route(method, path)
        slot = (api_key, key) if key else None
        with LOCK:
            entry = claim(slot, method, path, params) if slot else None
            if entry:
                record["replayed"] = True
        if entry:
            return entry["status"], entry["body"], {**extra, "Idempotent-Replayed": "true"}
    except StripeError as e:
        return e.status, json.dumps({"error": e.error}), extra
    if LATENCY_S:
        time.sleep(LATENCY_S)
    with LOCK:
        REQUEST.update(id=extra["Request-Id"], idempotency_key=key)
        try:
            status, body, store = execute(endpoint, method, path, params)
        except Exception as e:  # a bug in the fake: answer like Stripe's 500 and free the key
            status, body, store = 500, json.dumps({"error": {"type": "api_error", "message": repr(e)}}), False
        finally:
            REQUEST.update(id=None, idempotency_key=None)
        if slot and store and slot in STATE.idempotency:
            STATE.idempotency[slot].update(done=True, status=status, body=body)
        elif slot:
            STATE.idempotency.pop(slot, None)
    return status, body, extra


# ---------------------------------------------------------------- control API

def control(method: str, path: str, data: dict):
    """(status, JSON-able body). Runs under LOCK."""
    global STATE
    if (method, path) == ("POST", "/__fake/fail"):
        # {"count": 1, "status": 500, "method": null (any) | "POST", and one of "path" (exact),
        #  "path_regex" (matches the whole path) or "path_prefix" (default "/v1")}
        given = [k for k in ("path", "path_prefix", "path_regex") if data.get(k) is not None]
        if len(given) > 1:
            return 400, {"error": {"message": f"give at most one of path, path_prefix, path_regex (got "
                                              f"{', '.join(given)})"}}
        rule = {"count": int(data.get("count", 1)), "status": int(data.get("status", 500)),
                "method": data["method"].upper() if data.get("method") else None}
        if data.get("path") is not None:
            rule["path"] = str(data["path"])
        elif data.get("path_regex") is not None:
            try:
                rule["path_regex"] = re.compile(str(data["path_regex"]))
            except re.error as e:
                return 400, {"error": {"message": f"bad path_regex: {e}"}}
        else:
            rule["path_prefix"] = str(data.get("path_prefix", "/v1"))
        STATE.failures.append(rule)
        return 200, {"ok": True}
    if (method, path) == ("POST", "/__fake/portal/default"):
        return 200, save_default_portal_configuration(data)
    if (method, path) == ("GET", "/__fake/requests"):
        return 200, STATE.requests
    if (method, path) == ("GET", "/__fake/customers"):
        return 200, [{**c, "deleted": True} if id_ in STATE.deleted else c for id_, c in STATE.customers.items()]
    if (method, path) == ("POST", "/__fake/customers"):  # a customer with a chosen id (fixtures name one)
        customer = create_customer({k: v for k, v in data.items() if k != "id"})
        del STATE.customers[customer["id"]]
        customer["id"] = data.get("id") or customer["id"]
        STATE.customers[customer["id"]] = customer
        return 200, customer
    if (method, path) == ("POST", "/__fake/prices"):
        price = price_object(data)
        for other in STATE.prices.values():  # lookup keys are unique: the new price takes it over
            if price["lookup_key"] and other["lookup_key"] == price["lookup_key"]:
                other["lookup_key"] = None
        STATE.prices[price["id"]] = price
        return 200, price
    if (method, path) == ("POST", "/__fake/subscriptions"):
        # One item (`price`, `quantity`), or several: `items: [{"price", "quantity"}]`.
        wanted = data.get("items") or [{"price": data.get("price"), "quantity": data.get("quantity", 1)}]
        if not data.get("customer") or any(i.get("price") not in STATE.prices for i in wanted):
            return 400, {"error": {"message": "seed a subscription with a `customer` and seeded prices "
                                              "(`price`, or `items: [{price, quantity}]`)"}}
        sub = subscription_object(data, [(STATE.prices[i["price"]], int(i.get("quantity", 1))) for i in wanted])
        STATE.subscriptions[sub["id"]] = sub
        return 200, sub
    if (method, path) == ("GET", "/__fake/meter_events"):
        return 200, STATE.meter_events
    if (method, path) == ("POST", "/__fake/listen"):
        # `stripe listen --forward-to <url>`: every event type to `url`, signed with `secret` (one is made up
        # and answered when none is given); registering a url again replaces its secret.
        url = data.get("url")
        if not url or not str(url).startswith(("http://", "https://")):
            return 400, {"error": {"message": "POST /__fake/listen needs an http(s) `url`"}}
        secret = data.get("secret") or "whsec_" + new_id("", 32)
        STATE.targets[url] = {"url": url, "secret": secret}
        return 200, {"ok": True, "url": url, "secret": secret, "targets": len(STATE.targets)}
    if (method, path) == ("GET", "/__fake/deliveries"):
        return 200, STATE.deliveries
    if (method, path) == ("GET", "/__fake/events"):
        return 200, STATE.events
    if (method, path) == ("GET", "/__fake/clock"):
        stamp = now()
        return 200, {"now": stamp, "offset_seconds": CLOCK_OFFSET,
                     "iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))}
    if (method, path) == ("POST", "/__fake/clock/advance"):
        seconds = int(float(data.get("days", 0)) * DAY + float(data.get("seconds", 0)))
        if seconds < 0:
            return 400, {"error": {"message": "the clock only moves forward"}}
        start = now()
        REQUEST.update(id=None, idempotency_key=None)
        done = run_clock(start + seconds)
        stamp = now()
        return 200, {"from": start, "to": stamp, "now": stamp,
                     "iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp)), "actions": done}
    if (method, path) == ("POST", "/__fake/reset"):
        STATE = State()
        set_clock(int(time.time()))
        DELIVERY.reset()
        return 200, {"ok": True}
    return 404, {"error": {"message": f"no control endpoint {method} {path}"}}


# ---------------------------------------------------------------- HTTP

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-stripe"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def do_GET(self):
        method, length = self.command, int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        url = urlsplit(self.path)
        if url.path.startswith(("/checkout/", "/portal/")) and method in ("GET", "POST"):
            form = {k: v for k, v in parse_qsl(raw, keep_blank_values=True)} if method == "POST" else {}
            with LOCK:
                REQUEST.update(id=None, idempotency_key=None)
                try:
                    status, html, location = page_request(method, url.path, form)
                except Exception as e:  # a bug in the fake: say so on the page
                    status, html, location = 500, html_page("Error (fake Stripe)",
                                                            f"<h1>Error</h1><pre>{escape(repr(e))}</pre>"), None
            return self.reply(status, html, {"Location": location} if location else {}, "text/html; charset=utf-8")
        if url.path.startswith("/__fake/"):
            try:
                data = json.loads(raw) if raw.strip() else {}
                with LOCK:
                    status, body = control(method, url.path, data)
                    text = json.dumps(body)
            except StripeError as e:  # a control call refused as the API would (POST /__fake/portal/default)
                status, text = e.status, json.dumps({"error": e.error})
            except (ValueError, TypeError, AttributeError, KeyError) as e:
                status, text = 400, json.dumps({"error": {"message": f"bad control request: {e!r}"}})
            return self.reply(status, text, {})
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

    do_POST = do_DELETE = do_GET

    def reply(self, status: int, text: str, headers: dict, content_type: str = "application/json"):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    global LATENCY_S, BASE_URL, HOSTED_PAGES, RETRY_SCALE, CHAOS, RETRY_DAYS, DUNNING_FINAL, MAX_ATTEMPTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=int, default=0)
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
    parser.add_argument("--retry-days", default="3,5,7",
                        help="failed renewal retries, each this many days after the previous attempt")
    parser.add_argument("--dunning-final", choices=("canceled", "unpaid"), default="canceled",
                        help="what a subscription becomes after its last failed retry")
    args = parser.parse_args()
    LATENCY_S = args.latency_ms / 1000
    RETRY_SCALE, MAX_ATTEMPTS, CHAOS = args.retry_scale, max(1, args.max_attempts), args.chaos
    RETRY_DAYS = [float(x) for x in args.retry_days.split(",") if x.strip()]
    DUNNING_FINAL, HOSTED_PAGES = args.dunning_final, args.hosted_pages
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    BASE_URL = f"http://127.0.0.1:{server.server_address[1]}"
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
