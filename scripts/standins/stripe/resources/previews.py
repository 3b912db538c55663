"""`POST /v1/invoices/create_preview`: the invoice a change of an existing subscription would bring, or the
first invoice of a new one."""

from __future__ import annotations

import copy

from ..forms import as_int, proration_behavior
from ..state import STATE, StripeError, missing_param, no_such, now
from .invoices import invoice_line, invoice_object, period_seconds, price_name
from .subscriptions import item_changes, proration_lines


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
