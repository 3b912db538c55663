"""Customers: create, retrieve, update, delete, list, search by one metadata equality."""

from __future__ import annotations

import re

from ..events import emit, emit_updated, snapshot
from ..forms import list_object, merge_metadata, page
from ..state import STATE, StripeError, deleted_customer, new_id, no_such, now


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


def api_create_customer(p):
    customer = create_customer(p)
    emit("customer.created", customer)
    return customer


def retrieve_customer(p, id_):
    return deleted_customer(id_) if id_ in STATE.deleted else STATE.customer(id_)


def update_customer(p, id_):
    customer = STATE.customer(id_)
    before = snapshot(customer)
    if isinstance(p.get("invoice_settings"), dict) and "default_payment_method" in p["invoice_settings"]:
        pm_id = p["invoice_settings"]["default_payment_method"] or None
        if pm_id is not None and pm_id not in STATE.payment_methods:
            raise no_such("PaymentMethod", pm_id, "invoice_settings[default_payment_method]", 400)
        customer["invoice_settings"]["default_payment_method"] = pm_id
    for field in ("email", "name", "description", "phone"):
        if field in p:
            customer[field] = p[field] or None
    customer["metadata"] = merge_metadata(customer["metadata"], p.get("metadata"))
    emit_updated("customer.updated", customer, before)
    return customer


def delete_customer(p, id_):
    customer = STATE.customer(id_)
    STATE.deleted.add(id_)
    emit("customer.deleted", customer)
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


def list_customers(p):
    """Stripe's customer list: newest first, deleted customers left out, `email` an exact filter."""
    email = p.get("email")
    customers = [c for id_, c in reversed(list(STATE.customers.items())) if id_ not in STATE.deleted]
    return page("/v1/customers", customers, p, "customer", lambda c: email is None or c.get("email") == email)
