"""Subscription schedules: create `from_subscription`, retrieve, update phases / `end_behavior` /
`metadata`, release; canceling a subscription cancels its schedule."""

from __future__ import annotations

from ..events import emit, emit_updated, snapshot
from ..forms import as_int, merge_metadata, proration_behavior
from ..state import STATE, StripeError, missing_param, new_id, no_such, now

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


def cancel_schedule_of(sub: dict, stamp: int) -> None:
    """Canceling a subscription cancels the schedule managing it (as Stripe does)."""
    schedule = STATE.schedules.get(sub.get("schedule") or "")
    if schedule is not None and schedule["status"] in ("not_started", "active"):
        schedule.update(status="canceled", canceled_at=stamp, current_phase=None)
        emit("subscription_schedule.canceled", schedule)
