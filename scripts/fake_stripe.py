#!/usr/bin/env python3
"""A local fake of the Stripe API, for tests only (never point production at it).

    python3 scripts/fake_stripe.py --port 0 [--latency-ms N]

Binds 127.0.0.1 (port 0 = any free port) and prints `listening on <port>` as its first stdout line. The code
under test talks to it exactly as to https://api.stripe.com (STRIPE_API_BASE): form-encoded bodies with
nested keys (`metadata[k]=v`, `line_items[0][price]=p`, `expand[]=x`), `Authorization: Bearer sk_test_...`,
JSON answers shaped like the 2025 "basil" API objects, Stripe's error shape and statuses, and Stripe's
idempotency (replay with `Idempotent-Replayed: true`, 400 `idempotency_error` on a key reused with other
params or another endpoint, 409 while the first request with the key is still running).

Covered: customers (create, retrieve, update, delete, search by one metadata equality), subscriptions
(retrieve, list, update — cancel_at_period_end, an item's price with `proration_behavior` — cancel with
`prorate`/`invoice_now`), invoice previews (`/v1/invoices/create_preview` of a subscription with
`subscription_details[items]`), checkout sessions (create, retrieve, line items), billing portal sessions
(create). State lives in memory behind one lock.

The catalog, shaped like the 2026-09-30 API reference (lists newest first, with `limit`, `starting_after`,
`ending_before` and `has_more`):
  products            POST /v1/products (`id` of the caller's choosing optional, `name`, `active`, `description`,
                      `metadata`, ...), GET|POST /v1/products/{id}, GET /v1/products (`active`, `ids[]`).
  prices              POST /v1/prices (an existing `product`, `currency`, `unit_amount`, `recurring[interval]`,
                      `[interval_count]`, `[usage_type]`, `[meter]` — an active meter, required when metered —
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
`expand[]` resolves customers, prices, products, subscriptions, checkout sessions and features by id.

Control API for tests (no auth, JSON): POST /__fake/fail, GET /__fake/requests, GET /__fake/customers,
POST /__fake/customers, POST /__fake/prices, POST /__fake/subscriptions, GET /__fake/meter_events (every
accepted `billing.meter_event`, in arrival order), POST /__fake/reset. See `control` below.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import random
import re
import socket
import string
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

ALPHANUMERIC = string.ascii_letters + string.digits
LOCK = threading.Lock()
LATENCY_S = 0.0
SUPPORT = "Please see https://stripe.com/docs or we can help at https://support.stripe.com/."


def new_id(prefix: str, length: int = 14) -> str:
    return prefix + "".join(random.choices(ALPHANUMERIC, k=length))


def now() -> int:
    return int(time.time())


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
        self.portal_configuration = new_id("bpc_", 24)
        self.webhook_endpoints: dict = {}
        self.portal_configurations: dict = {}  # filled on first use, with the default one

    def customer(self, id_: str, param: str = "id", status: int = 404) -> dict:
        if id_ not in self.customers or id_ in self.deleted:
            raise no_such("customer", id_, param, status)
        return self.customers[id_]

    def take_failure(self, method: str, path: str):
        for rule in self.failures:
            if path.startswith(rule["path_prefix"]) and rule["method"] in (None, method):
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


def subscription_object(d: dict, lines: list) -> dict:
    """A subscription with one item per `(price, quantity)` of `lines` (they share one billing period)."""
    sid, created = d.get("id") or new_id("sub_", 24), now()
    end = int(d.get("current_period_end") or created + 30 * 86400)
    start = int(d.get("current_period_start") or end - 30 * 86400)
    at_end, status = bool(d.get("cancel_at_period_end", False)), d.get("status", "active")
    items = [{"id": new_id("si_"), "object": "subscription_item", "billing_thresholds": None, "created": created,
              "current_period_end": end, "current_period_start": start, "discounts": [], "metadata": {},
              "plan": plan_object(price), "price": copy.deepcopy(price), "quantity": quantity,
              "subscription": sid, "tax_rates": []} for price, quantity in lines]
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


def retrieve_customer(p, id_):
    return deleted_customer(id_) if id_ in STATE.deleted else STATE.customer(id_)


def update_customer(p, id_):
    customer = STATE.customer(id_)
    for field in ("email", "name", "description", "phone"):
        if field in p:
            customer[field] = p[field] or None
    customer["metadata"] = merge_metadata(customer["metadata"], p.get("metadata"))
    return customer


def delete_customer(p, id_):
    STATE.customer(id_)
    STATE.deleted.add(id_)
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
    at_end = as_bool(p, "cancel_at_period_end")
    changes = item_changes(sub, p.get("items"), "items")
    behavior = proration_behavior(p)
    if sub["status"] in ("canceled", "incomplete_expired") and (at_end is not None or changes):
        raise StripeError(400, "A canceled subscription can only update its cancellation_details and "
                               "metadata.", param="cancel_at_period_end" if at_end is not None else "items")
    if at_end is not None and sub.get("schedule"):
        raise StripeError(400, f"The subscription is managed by the subscription schedule `{sub['schedule']}`, and "
                               "updating any cancelation behavior directly is not allowed. Please update the "
                               "schedule instead.", param="cancel_at_period_end")
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
        if behavior == "always_invoice" and prorations:
            invoice = invoice_object(sub, prorations, stamp, "subscription_update")
            invoice.update(status="open", id=new_id("in_", 24))
            sub["latest_invoice"] = invoice["id"]
        else:
            sub.setdefault("_pending_prorations", []).extend(prorations)
    sub["metadata"] = merge_metadata(sub["metadata"], p.get("metadata"))
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
    return public(sub)


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
    `always_invoice`, else the next one: pending prorations plus the next period)."""
    sid = p.get("subscription")
    if sid is None:
        raise StripeError(400, "The fake previews only existing subscriptions: pass `subscription`.",
                          param="subscription")
    if sid not in STATE.subscriptions:
        raise no_such("subscription", sid, "subscription", 400)
    sub = copy.deepcopy(STATE.subscriptions[sid])
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise StripeError(400, "No upcoming invoices for a canceled subscription.", code="invoice_upcoming_none")
    details = p.get("subscription_details") or {}
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
        if line.get("quantity") is None:
            raise missing_param(f"line_items[{i}][quantity]")
        price = copy.deepcopy(STATE.prices[price_id])
        quantity = as_int(line["quantity"], f"line_items[{i}][quantity]")
        amount = (price["unit_amount"] or 0) * quantity
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
               "url": f"https://checkout.stripe.com/c/pay/{sid}"}
    STATE.sessions[sid], STATE.line_items[sid] = session, items
    return session


def retrieve_checkout_session(p, id_):
    if id_ not in STATE.sessions:
        raise no_such("checkout.session", id_)
    return STATE.sessions[id_]


def list_checkout_line_items(p, id_):
    retrieve_checkout_session(p, id_)
    return list_object(f"/v1/checkout/sessions/{id_}/line_items", STATE.line_items[id_], p)


def create_portal_session(p):
    if p.get("customer") is None:
        raise missing_param("customer")
    STATE.customer(p["customer"], "customer", 400)
    sid = new_id("bps_", 24)
    return {"id": sid, "object": "billing_portal.session", "configuration": STATE.portal_configuration,
            "created": now(), "customer": p["customer"], "flow": None, "livemode": False, "locale": None,
            "on_behalf_of": None, "return_url": p.get("return_url"),
            "url": f"https://billing.stripe.com/p/session/{sid}"}


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
    sub["schedule"] = id_
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
    return schedule


def release_schedule(p, id_):
    schedule = retrieve_schedule(p, id_)
    if schedule["status"] not in ("not_started", "active"):
        raise StripeError(400, f"You cannot release a subscription schedule that is currently in the "
                               f"`{schedule['status']}` status. It must be in one of the following statuses: "
                               "not_started, active.")
    sub = STATE.subscriptions.get(schedule["subscription"])
    if sub is not None:
        sub["schedule"] = None
    schedule.update(status="released", released_at=now(), released_subscription=schedule["subscription"],
                    current_phase=None)
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
    price["tax_behavior"] = tax_behavior
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


def apply_portal_configuration(config: dict, p: dict) -> dict:
    features = p.get("features") or {}
    if not isinstance(features, dict):
        raise StripeError(400, "Invalid object", param="features")
    for name, values in features.items():
        if name not in config["features"]:
            raise StripeError(400, f"Received unknown parameter: features[{name}]", param=f"features[{name}]")
        target = config["features"][name]
        for key, value in values.items():
            if key not in target:
                raise StripeError(400, f"Received unknown parameter: features[{name}][{key}]",
                                  param=f"features[{name}][{key}]")
            if key == "enabled":
                value = as_bool(values, "enabled")
            if key == "products":
                value = [portal_product(product, i) for i, product in enumerate(value)]
            target[key] = value
    if p.get("default_return_url") is not None:
        config["default_return_url"] = p["default_return_url"]
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
    if product.get("product") not in STATE.products:
        raise no_such("product", str(product.get("product")), param + "[product]", 400)
    prices = product.get("prices") or []
    for price in prices:
        if price not in STATE.prices or STATE.prices[price]["product"] != product["product"]:
            raise StripeError(400, f"The price {price} does not belong to the product {product['product']}.",
                              param=param + "[prices]")
    return {"prices": prices, "product": product["product"]}


def portal_configurations() -> dict:
    """Every configuration, starting with the account's default one (as the dashboard saves it)."""
    if not STATE.portal_configurations:
        default = STATE.portal_configuration
        STATE.portal_configurations[default] = portal_configuration(default, {}, is_default=True)
    return STATE.portal_configurations


def create_portal_configuration(p):
    if p.get("features") is None:
        raise missing_param("features")
    config = portal_configuration(new_id("bpc_", 24), p)
    portal_configurations()[config["id"]] = config
    return config


def retrieve_portal_configuration(p, id_):
    if id_ not in portal_configurations():
        raise no_such("billing_portal.configuration", id_)
    return portal_configurations()[id_]


def update_portal_configuration(p, id_):
    return apply_portal_configuration(retrieve_portal_configuration(p, id_), p)


def list_portal_configurations(p):
    is_default = as_bool(p, "is_default")
    return page("/v1/billing_portal/configurations", list(reversed(portal_configurations().values())), p,
                "billing_portal.configuration", lambda c: is_default in (None, c["is_default"]))


ROUTES = [(method, re.compile(pattern), handler) for method, pattern, handler in [
    ("POST", r"/v1/customers", create_customer),
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
    ("POST", r"/v1/invoices/create_preview", create_preview_invoice),
    ("POST", r"/v1/subscription_schedules", create_schedule),
    ("GET", r"/v1/subscription_schedules/([^/]+)", retrieve_schedule),
    ("POST", r"/v1/subscription_schedules/([^/]+)", update_schedule),
    ("POST", r"/v1/subscription_schedules/([^/]+)/release", release_schedule),
]]


def lookup(id_: str):
    if id_.startswith("cus_") and id_ in STATE.customers:
        return retrieve_customer({}, id_)
    for prefix, table in (("sub_", STATE.subscriptions), ("price_", STATE.prices), ("cs_", STATE.sessions),
                          ("feat_", STATE.features)):
        if id_.startswith(prefix) and id_ in table:
            return public(table[id_]) if prefix == "sub_" else table[id_]
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
        try:
            status, body, store = execute(endpoint, method, path, params)
        except Exception as e:  # a bug in the fake: answer like Stripe's 500 and free the key
            status, body, store = 500, json.dumps({"error": {"type": "api_error", "message": repr(e)}}), False
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
        STATE.failures.append({"count": int(data.get("count", 1)), "status": int(data.get("status", 500)),
                               "path_prefix": data.get("path_prefix", "/v1"),
                               "method": data["method"].upper() if data.get("method") else None})
        return 200, {"ok": True}
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
    if (method, path) == ("POST", "/__fake/reset"):
        STATE = State()
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
        if url.path.startswith("/__fake/"):
            try:
                data = json.loads(raw) if raw.strip() else {}
                with LOCK:
                    status, body = control(method, url.path, data)
                    text = json.dumps(body)
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

    def reply(self, status: int, text: str, headers: dict):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    global LATENCY_S
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=int, default=0)
    args = parser.parse_args()
    LATENCY_S = args.latency_ms / 1000
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
