"""The test clock (POST /__fake/clock/advance): what falls due, in time order: trial_will_end, renewals,
dunning retries, schedule phases, period-end cancellations, Checkout session expiry."""

from __future__ import annotations

from .checkout import expire_if_due
from .events import emit, emit_updated, snapshot
from .resources.invoices import collect, end_subscription, finalize, new_invoice, period_lines, period_seconds
from .settings import DAY
from .state import STATE, now, set_clock, subscription_item


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
