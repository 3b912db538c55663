"""Subscriptions: retrieve, list, update (cancel_at_period_end, an item's price with
`proration_behavior` and its proration lines), cancel (DELETE)."""

from __future__ import annotations

import copy

from ..events import emit, emit_updated, snapshot
from ..forms import as_bool, list_object, merge_metadata, proration_behavior
from ..state import STATE, StripeError, no_such, now, plan_object, public
from .invoices import collect, finalize, invoice_line, new_invoice
from .payments import default_card
from .schedules import cancel_schedule_of


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

    def name(p):
        return p["nickname"] or p["lookup_key"] or p["id"]

    lines = []
    for index, price in changes:
        item = sub["items"]["data"][index]
        start, end = item["current_period_start"], item["current_period_end"]
        left = max(0.0, min(1.0, (end - at) / max(1, end - start)))
        quantity = item["quantity"]
        old = round(-(item["price"]["unit_amount"] or 0) * quantity * left)
        new = round((price["unit_amount"] or 0) * quantity * left)
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
