"""Checkout: what paying a session on the hosted page creates (customer, card, subscription and its paid
first invoice, or a succeeded payment intent), declines, expiry."""

from __future__ import annotations

from .events import emit, emit_updated, snapshot
from .resources.customers import create_customer
from .resources.invoices import charge_invoice, finalize, new_invoice, period_lines, period_seconds
from .resources.payments import CARDS, DECLINED, confirm, create_card, payment_intent
from .settings import DAY
from .state import STATE, now, subscription_object


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
