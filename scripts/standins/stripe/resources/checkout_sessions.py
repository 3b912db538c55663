"""Checkout sessions: create (its line items checked like Stripe), retrieve, line items. Paying one is
the hosted page's (checkout.py)."""

from __future__ import annotations

import copy

from .. import settings
from ..forms import as_bool, as_int, list_object, merge_metadata
from ..state import STATE, StripeError, missing_param, new_id, no_such, now


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
               "url": f"{settings.BASE_URL}/checkout/{sid}" if settings.HOSTED_PAGES else f"https://checkout.stripe.com/c/pay/{sid}"}
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
