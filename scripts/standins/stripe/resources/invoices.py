"""Invoices: their lines and shape, a subscription's new invoice, finalizing, charging (payment intents,
the events), collection with dunning (retries, then --dunning-final), GET /v1/invoices, POST
/v1/invoices/{id}/pay."""

from __future__ import annotations

from .. import settings
from ..events import emit, emit_updated, snapshot
from ..forms import page
from ..settings import DAY
from ..state import STATE, StripeError, new_id, no_such, now
from .payments import DECLINED, confirm, default_card, payment_intent
from .schedules import INTERVAL_SECONDS, cancel_schedule_of


def invoice_line(sub: dict, item: dict, price: dict, amount: int, description: str, proration: bool,
                 start: int, end: int, quantity: int) -> dict:
    return {"id": new_id("il_tmp_", 24), "object": "line_item", "amount": amount, "currency": price["currency"],
            "description": description, "discount_amounts": [], "discountable": not proration, "discounts": [],
            "invoice": None, "livemode": False, "metadata": {},
            "parent": {"type": "subscription_item_details", "invoice_item_details": None,
                       "subscription_item_details": {"invoice_item": new_id("ii_", 24) if proration else None,
                                                     "proration": proration,
                                                     "proration_details": {"credited_items": None},
                                                     "subscription": sub["id"], "subscription_item": item["id"]}},
            "period": {"end": end, "start": start}, "pretax_credit_amounts": [],
            "pricing": {"price_details": {"price": price["id"], "product": price["product"]},
                        "type": "price_details", "unit_amount_decimal": price["unit_amount_decimal"]},
            "quantity": quantity, "quantity_decimal": str(quantity), "subscription": sub["id"],
            "subtotal": amount, "taxes": []}


def invoice_object(sub: dict, lines: list, stamp: int, reason: str) -> dict:
    total = sum(line["amount"] for line in lines)
    start = min((line["period"]["start"] for line in lines), default=stamp)
    end = max((line["period"]["end"] for line in lines), default=stamp)
    customer = STATE.customers.get(sub["customer"], {})
    return {"id": None, "object": "invoice", "account_country": "US", "account_name": "Entitle (fake)",
            "account_tax_ids": None, "amount_due": max(total, 0), "amount_overpaid": 0, "amount_paid": 0,
            "amount_remaining": max(total, 0), "amount_shipping": 0, "application": None, "attempt_count": 0,
            "attempted": False, "auto_advance": False,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None, "provider": None,
                              "status": None},
            "automatically_finalizes_at": None, "billing_reason": reason,
            "collection_method": "charge_automatically", "confirmation_secret": None, "created": stamp,
            "currency": sub["currency"], "custom_fields": None, "customer": sub["customer"],
            "customer_account": None, "customer_address": None, "customer_email": customer.get("email"),
            "customer_name": customer.get("name"), "customer_phone": None, "customer_shipping": None,
            "customer_tax_exempt": "none", "customer_tax_ids": [], "default_payment_method": None,
            "default_source": None, "default_tax_rates": [], "description": None, "discounts": [],
            "due_date": None, "effective_at": None, "ending_balance": None, "footer": None, "from_invoice": None,
            "hosted_invoice_url": None, "invoice_pdf": None, "issuer": {"type": "self"},
            "last_finalization_error": None, "latest_revision": None,
            "lines": {"object": "list", "data": lines, "has_more": False, "total_count": len(lines),
                      "url": "/v1/invoices/upcoming/lines"},
            "livemode": False, "metadata": {}, "next_payment_attempt": end if reason == "upcoming" else stamp,
            "number": None, "on_behalf_of": None,
            "parent": {"type": "subscription_details", "quote_details": None,
                       "subscription_details": {"metadata": sub["metadata"], "subscription": sub["id"]}},
            "payment_settings": {"default_mandate": None, "payment_method_options": None,
                                 "payment_method_types": None},
            "period_end": end, "period_start": start, "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0, "receipt_number": None, "rendering": None,
            "shipping_cost": None, "shipping_details": None, "starting_balance": 0, "statement_descriptor": None,
            "status": "draft", "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None,
                                                      "paid_at": None, "voided_at": None},
            "subtotal": total, "subtotal_excluding_tax": total, "test_clock": None, "total": total,
            "total_discount_amounts": [], "total_excluding_tax": total, "total_pretax_credit_amounts": [],
            "total_taxes": [], "webhooks_delivered_at": None}


def period_seconds(price: dict) -> int:
    recurring = price.get("recurring") or {"interval": "month", "interval_count": 1}
    return INTERVAL_SECONDS[recurring["interval"]] * int(recurring.get("interval_count") or 1)


def price_name(price: dict) -> str:
    """The product's name, else the price's nickname, else its lookup key made readable (starter_monthly:
    "Starter monthly")."""
    key = (price.get("lookup_key") or "").replace("_", " ").strip()
    return ((STATE.products.get(price["product"]) or {}).get("name") or price.get("nickname")
            or (key[:1].upper() + key[1:] if key else price["id"]))


def period_lines(sub: dict, start: int, end: int, trial: bool = False) -> list:
    lines = []
    for item in sub["items"]["data"]:
        price, quantity = item["price"], item["quantity"]
        if quantity is None:  # metered: billed from its meter, not up front
            continue
        amount = 0 if trial else (price["unit_amount"] or 0) * quantity
        text = f"Trial period for {price_name(price)}" if trial else f"{quantity} × {price_name(price)}"
        lines.append(invoice_line(sub, item, price, amount, text, False, start, end, quantity))
    return lines


def new_invoice(sub: dict, lines: list, reason: str) -> dict:
    """A stored draft invoice of `sub` (made its latest_invoice)."""
    invoice = invoice_object(sub, lines, now(), reason)
    iid = new_id("in_", 24)
    customer = STATE.customers.get(sub["customer"])
    number = None
    if customer is not None:
        number = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
        customer["next_invoice_sequence"] += 1
    for line in lines:
        line.update(id=new_id("il_", 24), invoice=iid)
    invoice.update(id=iid, auto_advance=True, number=number, next_payment_attempt=None,
                   payments={"object": "list", "data": [], "has_more": False, "total_count": 0,
                             "url": f"/v1/invoice_payments?invoice={iid}"})
    invoice["lines"]["url"] = f"/v1/invoices/{iid}/lines"
    STATE.invoices[iid] = invoice
    sub["latest_invoice"] = iid
    return invoice


def finalize(invoice: dict) -> None:
    stamp = now()
    invoice.update(status="open", effective_at=stamp)
    invoice["status_transitions"]["finalized_at"] = stamp
    emit("invoice.finalized", invoice)


def invoice_subscription(invoice: dict):
    sid = ((invoice.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    return STATE.subscriptions.get(sid)


def charge_invoice(invoice: dict, pm_id) -> bool:
    """One payment attempt: invoice.paid + invoice.payment_succeeded + payment_intent.succeeded, or
    invoice.payment_failed + payment_intent.payment_failed. A zero invoice is paid without a charge."""
    stamp = now()
    invoice.update(attempted=True, attempt_count=invoice["attempt_count"] + 1)
    pi = None
    if invoice["amount_due"] > 0:
        existing = [x["payment"]["payment_intent"] for x in invoice["payments"]["data"]]
        pi = STATE.payment_intents[existing[0]] if existing else None
        if pi is None:
            description = {"subscription_create": "Subscription creation", "subscription_cycle":
                           "Subscription cycle", "subscription_update": "Subscription update"}.get(
                invoice["billing_reason"])
            pi = payment_intent(invoice["amount_due"], invoice["currency"], invoice["customer"], pm_id, {},
                                description)
            invoice["payments"]["data"].append({
                "id": new_id("inpay_", 24), "object": "invoice_payment", "amount_paid": None,
                "amount_requested": invoice["amount_due"], "created": stamp, "currency": invoice["currency"],
                "invoice": invoice["id"], "is_default": True, "livemode": False,
                "payment": {"type": "payment_intent", "payment_intent": pi["id"]}, "status": "open",
                "status_transitions": {"canceled_at": None, "paid_at": None}})
            invoice["payments"]["total_count"] = 1
        if not confirm(pi, pm_id):
            invoice["next_payment_attempt"] = None
            emit("invoice.payment_failed", invoice)
            emit("payment_intent.payment_failed", pi)
            return False
        payment = invoice["payments"]["data"][0]
        payment.update(amount_paid=invoice["amount_due"], status="paid")
        payment["status_transitions"]["paid_at"] = stamp
    invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0, next_payment_attempt=None)
    invoice["status_transitions"]["paid_at"] = stamp
    emit("invoice.paid", invoice)
    emit("invoice.payment_succeeded", invoice)
    if pi is not None:
        emit("payment_intent.succeeded", pi)
    return True


def collect(invoice: dict, sub: dict, pm_id: str | None = None) -> bool:
    """Charges a subscription's invoice to its card (or `pm_id`); on a failure the subscription goes past_due
    and the retries are scheduled; on a success after failures it is active again."""
    ok = charge_invoice(invoice, pm_id or default_card(sub, sub["customer"]))
    before = snapshot(sub)
    dunning = sub.get("_dunning")
    if ok:
        if dunning and dunning["invoice"] == invoice["id"]:
            sub.pop("_dunning")
        if sub["status"] in ("past_due", "unpaid", "incomplete"):
            sub["status"] = "active"
        emit_updated("customer.subscription.updated", sub, before)
        return True
    if not dunning or dunning["invoice"] != invoice["id"]:
        dunning = sub["_dunning"] = {"invoice": invoice["id"], "failures": 0, "next_at": None}
    dunning["failures"] += 1
    if dunning["failures"] <= len(settings.RETRY_DAYS):
        dunning["next_at"] = now() + int(settings.RETRY_DAYS[dunning["failures"] - 1] * DAY)
        invoice["next_payment_attempt"] = dunning["next_at"]
        if sub["status"] in ("active", "trialing"):
            sub["status"] = "past_due"
        emit_updated("customer.subscription.updated", sub, before)
    else:  # the last retry failed: Stripe's "if all retries for a payment fail" setting
        sub.pop("_dunning")
        if settings.DUNNING_FINAL == "canceled":
            end_subscription(sub, "payment_failed")
        else:
            sub["status"] = settings.DUNNING_FINAL
            emit_updated("customer.subscription.updated", sub, before)
    return False


def end_subscription(sub: dict, reason: str) -> None:
    stamp = now()
    sub.update(status="canceled", ended_at=stamp, canceled_at=sub.get("canceled_at") or stamp)
    sub["cancellation_details"]["reason"] = reason
    sub.pop("_dunning", None)
    cancel_schedule_of(sub, stamp)
    emit("customer.subscription.deleted", sub)


def retrieve_invoice(p, id_):
    if id_ not in STATE.invoices:
        raise no_such("invoice", id_)
    return STATE.invoices[id_]


def list_invoices(p):
    def keep(x):
        sub = ((x.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        return (p.get("customer") in (None, x["customer"]) and p.get("status") in (None, x["status"])
                and p.get("subscription") in (None, sub))
    return page("/v1/invoices", list(reversed(STATE.invoices.values())), p, "invoice", keep)


def pay_invoice(p, id_):
    """`POST /v1/invoices/{id}/pay`: one attempt with `payment_method`, else the subscription's card."""
    invoice = retrieve_invoice(p, id_)
    if invoice["status"] != "open":
        raise StripeError(400, f"Invoice is already {invoice['status']}." if invoice["status"] == "paid"
                          else f"You can only pay an open invoice (this one is {invoice['status']}).",
                          code="invoice_not_open")
    sub = invoice_subscription(invoice)
    pm_id = p.get("payment_method") or default_card(sub, invoice["customer"])
    if p.get("payment_method") is not None and p["payment_method"] not in STATE.payment_methods:
        raise no_such("PaymentMethod", p["payment_method"], "payment_method", 400)
    ok = collect(invoice, sub, pm_id) if sub is not None else charge_invoice(invoice, pm_id)
    if not ok:
        raise StripeError(402, DECLINED, "card_error", code="card_declined", decline_code="generic_decline")
    return invoice
