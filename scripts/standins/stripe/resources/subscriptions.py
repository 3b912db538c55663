"""Subscriptions: retrieve, list, update (cancel_at_period_end; `items[i]`: an item's price and quantity, a new
item, a deleted one, with `proration_behavior` and its proration lines), cancel (DELETE)."""

from __future__ import annotations

import copy
import re

from ..events import emit, emit_updated, snapshot
from ..forms import as_bool, list_object, merge_metadata, proration_behavior
from ..state import STATE, StripeError, missing_param, no_such, now, plan_object, public, subscription_item
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


# Everything a subscription update's `items[i]` may name; Stripe's other item params are refused, not ignored.
ITEM_PARAMS = ("id", "price", "quantity", "deleted")
UNMODELED_ITEM_PARAMS = ("billing_thresholds", "clear_usage", "discounts", "metadata", "plan", "price_data",
                         "tax_rates")


def is_metered(price: dict) -> bool:
    return (price.get("recurring") or {}).get("usage_type") == "metered"


def recurring_price(price_id, param: str) -> dict:
    if price_id is None or price_id not in STATE.prices:
        raise no_such("price", price_id or "", param, 400)
    if STATE.prices[price_id]["recurring"] is None:
        raise StripeError(400, "The price specified is set to `type=one_time` but this field only accepts "
                               "prices with `type=recurring`.", param=param)
    return STATE.prices[price_id]


def item_quantity(given, param: str) -> int:
    """`items[i][quantity]`: a whole number, not negative. "Invalid integer: 1.5" is Stripe's text (also for a
    value that is not a number at all); "Invalid non-negative integer" is what Stripe answered for a negative
    quantity on POST /v1/subscriptions/{id} (reported by users; newer API versions may word it otherwise)."""
    if not isinstance(given, str) or not re.fullmatch(r"-?[0-9]+", given):
        raise StripeError(400, f"Invalid integer: {given}", code="parameter_invalid_integer", param=param)
    if int(given) < 0:
        raise StripeError(400, "Invalid non-negative integer", code="parameter_invalid_integer", param=param)
    return int(given)


def resulting_quantity(item: dict, price: dict, current, current_price, param: str):
    """The item's quantity after the update: a metered price takes none (Stripe refuses one: "You cannot set the
    quantity for metered plans." is the text users report from the Subscriptions API; Checkout words it "Quantity
    should not be specified where usage_type is `metered`..."); a licensed one takes the given quantity, else
    keeps the item's, else 1 (Stripe's default)."""
    if is_metered(price):
        if item.get("quantity") is not None:
            raise StripeError(400, "You cannot set the quantity for metered plans.", param=f"{param}[quantity]")
        return current if current_price is not None and is_metered(current_price) else None
    if item.get("quantity") is not None:
        return item_quantity(item["quantity"], f"{param}[quantity]")
    return current if current is not None and current_price is not None and not is_metered(current_price) else 1


def item_updates(sub: dict, raw, param: str) -> list:
    """`items[i]` of Stripe's Update a subscription, checked like Stripe, changing nothing yet. Each is
    {"index", "kind", "item", "price", "quantity", "price_given"}:
      update  `[id]` (+ `[price]`, `[quantity]`): the item gets the price (else keeps its own) and the quantity;
      add     no `[id]`, `[price]` (+ `[quantity]`, default 1): a new item (built, not attached), its period the
              subscription's current one;
      delete  `[id]` + `[deleted]=true`: the item goes.
    The items that result must name each price once and share one currency, interval and interval_count."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise StripeError(400, "Invalid array", param=param)
    current = sub["items"]["data"]
    by_id = {x["id"]: x for x in current}
    start, end = current[0]["current_period_start"], current[0]["current_period_end"]
    updates, named = [], set()
    for i, item in enumerate(raw):
        at = f"{param}[{i}]"
        if not isinstance(item, dict):
            raise StripeError(400, "Invalid object", param=at)
        for key in item:
            if key in UNMODELED_ITEM_PARAMS:
                raise StripeError(400, f"The fake does not support `{at}[{key}]`: pass only `[id]`, `[price]`, "
                                       "`[quantity]` and `[deleted]`.", param=f"{at}[{key}]")
            if key not in ITEM_PARAMS:
                raise StripeError(400, f"Received unknown parameter: {at}[{key}]", param=f"{at}[{key}]")
        deleted = item.get("deleted")
        if deleted not in (None, "true", "false"):
            raise StripeError(400, f"Invalid boolean: {deleted}", param=f"{at}[deleted]")
        id_ = item.get("id")
        if id_ is not None:
            if id_ not in by_id:
                raise StripeError(400, f"Invalid subscription_item id: {id_}", param=f"{at}[id]")
            if id_ in named:  # the fake's own refusal: Stripe's answer to this is not known here
                raise StripeError(400, f"The fake does not support naming the subscription item {id_} more than "
                                       "once in one request.", param=f"{at}[id]")
            named.add(id_)
        if deleted == "true":
            if id_ is None:
                raise missing_param(f"{at}[id]")
            if item.get("price") is not None or item.get("quantity") is not None:
                raise StripeError(400, f"The fake does not support changing an item it deletes: pass only "
                                       f"`{at}[id]` and `{at}[deleted]`.", param=f"{at}[deleted]")
            existing = by_id[id_]
            updates.append({"index": i, "kind": "delete", "item": existing, "price": existing["price"],
                            "quantity": existing["quantity"], "price_given": False})
            continue
        if id_ is None:
            if item.get("price") is None:
                raise missing_param(f"{at}[price]")
            price = recurring_price(item["price"], f"{at}[price]")
            quantity = resulting_quantity(item, price, None, None, at)
            updates.append({"index": i, "kind": "add", "price": price, "quantity": quantity, "price_given": True,
                            "item": subscription_item(sub["id"], price, quantity, start, end)})
            continue
        existing = by_id[id_]
        given = item.get("price") is not None
        price = recurring_price(item["price"], f"{at}[price]") if given else existing["price"]
        quantity = resulting_quantity(item, price, existing["quantity"], existing["price"], at)
        updates.append({"index": i, "kind": "update", "item": existing, "price": price, "quantity": quantity,
                        "price_given": given})
    check_resulting_items(sub, updates, param)
    return updates


def check_resulting_items(sub: dict, updates: list, param: str) -> None:
    """Stripe's rules on the items a subscription is left with: at least one; each price once ("Cannot add
    multiple subscription items with the same plan: <price>", Stripe's text); one currency, interval and
    interval_count ("Currency and interval fields must match across all plans on this subscription. Found
    mismatch in interval field.", Stripe's text; the currency and interval_count variants follow its pattern).
    The item blamed is the request's (`items[i][price]`), measured against the items the request leaves alone."""
    touched = {u["item"]["id"]: u for u in updates if u["kind"] != "add"}
    kept = [x["price"] for x in sub["items"]["data"] if x["id"] not in touched]
    kept += [u["price"] for u in updates if u["kind"] == "update" and not u["price_given"]]
    setting = [u for u in updates if u["price_given"]]
    if not kept and not setting:
        raise StripeError(400, "The fake does not support deleting every item of a subscription: cancel it "
                               "(DELETE /v1/subscriptions/{id}) instead.", param=f"{param}[{updates[-1]['index']}]")
    seen = {price["id"] for price in kept}
    reference = kept[0] if kept else setting[0]["price"]
    for u in setting:
        at, price = f"{param}[{u['index']}][price]", u["price"]
        if price["id"] in seen:
            raise StripeError(400, f"Cannot add multiple subscription items with the same plan: {price['id']}",
                              param=at)
        seen.add(price["id"])
        mine, theirs = price["recurring"], reference["recurring"] or {}
        for field, a, b in (("currency", price["currency"], reference["currency"]),
                            ("interval", mine["interval"], theirs.get("interval")),
                            ("interval_count", int(mine.get("interval_count") or 1),
                             int(theirs.get("interval_count") or 1))):
            if a != b:
                raise StripeError(400, "Currency and interval fields must match across all plans on this "
                                       f"subscription. Found mismatch in {field} field.", param=at)


def item_changes(sub: dict, raw, param: str) -> list:
    """For the preview of an existing subscription: (index of the item, new price) pairs. The preview models
    only an existing item's price change, so a new item, a deleted one or another quantity is refused."""
    pairs = []
    for u in item_updates(sub, raw, param):
        at = f"{param}[{u['index']}]"
        if u["kind"] == "add":
            raise StripeError(400, "The fake supports only changing an existing item's price: pass "
                                   f"{at}[id].", param=f"{at}[id]")
        if u["kind"] == "delete" or u["quantity"] != u["item"]["quantity"]:
            raise StripeError(400, "The fake previews only an existing item's price change, with its quantity "
                                   "unchanged.", param=f"{at}[deleted]" if u["kind"] == "delete" else
                              f"{at}[quantity]")
        if u["price_given"]:
            pairs.append((sub["items"]["data"].index(u["item"]), u["price"]))
    return pairs


def price_label(price: dict, quantity: int) -> str:
    name = price["nickname"] or price["lookup_key"] or price["id"]
    return name if quantity == 1 else f"{quantity} × {name}"


def prorate(sub: dict, deltas: list, at: int) -> list:
    """Stripe's proration lines, per (item, old price, old quantity, new price, new quantity): the unused time on
    what the item was ("Unused time on [n × ]<price>", a credit) and the remaining time on what it is ("Remaining
    time on [n × ]<price>", a charge), each in proportion to what is left of the item's period. An added item has
    only the charge, a deleted one only the credit; a metered side or a zero quantity has none."""
    lines = []
    for item, old, old_quantity, new, new_quantity in deltas:
        if old is not None and new is not None and (old["id"], old_quantity) == (new["id"], new_quantity):
            continue
        start, end = item["current_period_start"], item["current_period_end"]
        left = max(0.0, min(1.0, (end - at) / max(1, end - start)))
        for price, quantity, sign, text in ((old, old_quantity, -1, "Unused time on"),
                                            (new, new_quantity, 1, "Remaining time on")):
            if price is None or is_metered(price) or not quantity:
                continue
            amount = round(sign * (price["unit_amount"] or 0) * quantity * left)
            lines.append(invoice_line(sub, item, price, amount, f"{text} {price_label(price, quantity)}", True, at,
                                      end, quantity))
    return lines


def proration_lines(sub: dict, changes: list, at: int) -> list:
    """The proration lines of (index of the item, new price) pairs, the item's quantity unchanged."""
    items = sub["items"]["data"]
    return prorate(sub, [(items[index], items[index]["price"], items[index]["quantity"], price,
                          items[index]["quantity"]) for index, price in changes], at)


def update_deltas(updates: list) -> list:
    deltas = []
    for u in updates:
        item = u["item"]
        if u["kind"] == "add":
            deltas.append((item, None, None, u["price"], u["quantity"]))
        elif u["kind"] == "delete":
            deltas.append((item, item["price"], item["quantity"], None, None))
        else:
            deltas.append((item, item["price"], item["quantity"], u["price"], u["quantity"]))
    return deltas


def apply_updates(sub: dict, updates: list) -> None:
    data = sub["items"]["data"]
    for u in updates:
        item = u["item"]
        if u["kind"] == "add":
            data.append(item)
        elif u["kind"] == "delete":
            data.remove(item)
        else:
            if u["price_given"]:
                item["price"], item["plan"] = copy.deepcopy(u["price"]), plan_object(u["price"])
            item["quantity"] = u["quantity"]
    sub["items"]["total_count"] = len(data)


def update_subscription(p, id_):
    sub = retrieve_subscription(p, id_)
    before = snapshot(sub)
    at_end = as_bool(p, "cancel_at_period_end")
    updates = item_updates(sub, p.get("items"), "items")
    behavior = proration_behavior(p)
    metadata = merge_metadata(sub["metadata"], p.get("metadata"))  # checked before anything changes
    if p.get("default_payment_method") is not None and p["default_payment_method"] not in STATE.payment_methods:
        raise no_such("PaymentMethod", p["default_payment_method"], "default_payment_method", 400)
    if sub["status"] in ("canceled", "incomplete_expired") and (at_end is not None or updates):
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
    invoice = None
    if updates:
        # create_prorations keeps the lines for the next invoice, always_invoice bills them now, none makes none.
        prorations = prorate(sub, update_deltas(updates), now()) if behavior != "none" else []
        apply_updates(sub, updates)
        if behavior == "always_invoice" and prorations:
            invoice = new_invoice(sub, prorations, "subscription_update")
            invoice["status"] = "open"
        else:
            sub.setdefault("_pending_prorations", []).extend(prorations)
    if p.get("default_payment_method") is not None:
        sub["default_payment_method"] = p["default_payment_method"]
    sub["metadata"] = metadata
    emit_updated("customer.subscription.updated", sub, before)
    if invoice is not None:
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
