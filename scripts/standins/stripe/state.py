"""The local Stripe's state: ids, the clock's time, Stripe's errors, the one `STATE` behind one `LOCK` (objects,
the idempotency store), and the objects' shapes (prices, plans, subscriptions, deleted customers)."""

from __future__ import annotations

import copy
import random
import string
import threading
import time

ALPHANUMERIC = string.ascii_letters + string.digits
LOCK = threading.Lock()
SUPPORT = "Please see https://stripe.com/docs or we can help at https://support.stripe.com/."


def new_id(prefix: str, length: int = 14) -> str:
    return prefix + "".join(random.choices(ALPHANUMERIC, k=length))


CLOCK_OFFSET = 0  # seconds the test clock (POST /__fake/clock/advance) has moved the fake ahead of real time


def now() -> int:
    """The fake's time: real time plus the test clock's offset (every timestamp the fake writes reads it)."""
    return int(time.time()) + CLOCK_OFFSET


def set_clock(at: int) -> None:
    global CLOCK_OFFSET
    CLOCK_OFFSET = at - int(time.time())


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


class State:
    """Everything the fake knows, behind LOCK. There is one, STATE; POST /__fake/reset empties it in place."""

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
        self.restricted_keys: dict = {}  # rk_test_... -> {resource: 0 none | 1 read | 2 write} (keys.py)
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

    def reset(self) -> None:
        """Forgets everything (the same object, so every module's `STATE` sees the fresh state)."""
        self.__init__()

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


def public(sub: dict) -> dict:
    """The subscription without the fake's own bookkeeping."""
    return {k: v for k, v in sub.items() if not k.startswith("_")}


# ---------------------------------------------------------------- the idempotency store

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
