"""Stripe's test cards, payment methods, payment intents and their confirmation; the card a subscription
is charged to; the portal's card replacement."""

from __future__ import annotations

import re
import time

from ..events import emit_updated, snapshot
from ..state import STATE, StripeError, new_id, no_such, now, public

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
