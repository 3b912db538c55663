"""The hosted pages' HTML: Checkout (/checkout/{id}) and the billing portal (/portal/{id}), their forms'
actions through the same functions as the API."""

from __future__ import annotations

import time
from html import escape

from . import settings
from .checkout import PageError, checkout_pay, expire_if_due
from .resources.invoices import pay_invoice, price_name
from .resources.payments import card_number, default_card, live_subscriptions, replace_card
from .resources.subscriptions import update_subscription
from .state import STATE, StripeError

PAGE_STYLE = ("body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}"
              "table{border-collapse:collapse;width:100%}td{padding:.3rem 0}.amount{text-align:right}"
              "#error{color:#b00020}button{margin:.3rem .3rem 0 0}")


def html_page(title: str, body: str, style: str = PAGE_STYLE) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            '<link rel="icon" href="data:,"><meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{style}</style></head><body>{body}</body></html>")


def money(amount, currency) -> str:
    return f"{(amount or 0) / 100:,.2f} {(currency or 'usd').upper()}"


def interval_text(price: dict) -> str:
    recurring = price.get("recurring")
    if not recurring:
        return "one time"
    count = int(recurring.get("interval_count") or 1)
    return f"per {recurring['interval']}" if count == 1 else f"every {count} {recurring['interval']}s"


CHECKOUT_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f9fc;color:#1a1f36}"
    ".checkout{display:grid;grid-template-columns:1fr 1fr;min-height:100vh}"
    ".summary{background:#fff;padding:3rem 2.5rem;border-right:1px solid #e3e8ee}"
    ".pay{padding:3rem 2.5rem;max-width:26rem}"
    ".merchant{font-weight:600;color:#697386;margin:0 0 1.5rem}.merchant .test{background:#ffde92;color:#983705;"
    "border-radius:4px;padding:.05rem .4rem;font-size:.75rem;margin-left:.4rem}"
    "h1{font-size:1rem;color:#697386;font-weight:500;margin:0}"
    "#headline{font-size:2rem;font-weight:600;margin:.2rem 0 1.5rem}"
    "table{border-collapse:collapse;width:100%}td{padding:.6rem 0;border-bottom:1px solid #e3e8ee;vertical-align:top}"
    ".name{font-weight:500}.interval{display:block;color:#697386;font-size:.875rem}.amount{text-align:right;"
    "white-space:nowrap}#total{display:flex;justify-content:space-between;font-weight:600;margin-top:1rem}"
    "#trial{color:#0e6245;background:#cbf4c9;border-radius:4px;padding:.25rem .6rem;display:inline-block}"
    "label{display:block;font-size:.875rem;color:#3c4257;margin-bottom:.3rem}"
    "input{font:inherit;width:100%;box-sizing:border-box;padding:.6rem .75rem;border:1px solid #cfd7df;"
    "border-radius:6px;margin-bottom:1rem}"
    "button{font:inherit;width:100%;padding:.7rem;border-radius:6px;border:1px solid #cfd7df;background:#fff;"
    "cursor:pointer;margin-top:.5rem}#pay{background:#635bff;border-color:#635bff;color:#fff;font-weight:600}"
    "#back{border:0;background:none;color:#635bff;width:auto;padding:.3rem 0}"
    "#error{color:#df1b41;background:#fff0f2;border-radius:6px;padding:.5rem .75rem}"
    ".hint{color:#697386;font-size:.8rem}"
    "@media (max-width:48rem){.checkout{grid-template-columns:1fr}.summary{border-right:0}}")

INTERVAL_WORDS = {"day": "daily", "week": "weekly", "month": "monthly", "year": "yearly"}


def item_name(price: dict) -> str:
    """What the line item sells, as a person reads it: the product's name and how often ("Professional,
    monthly"), or the product alone for a one-time price."""
    recurring = price.get("recurring")
    name = price_name(price)
    if not recurring:
        return name
    count = int(recurring.get("interval_count") or 1)
    how_often = INTERVAL_WORDS.get(recurring["interval"], recurring["interval"]) if count == 1 \
        else f"every {count} {recurring['interval']}s"
    return f"{name}, {how_often}"


def checkout_page(session: dict, error: str | None = None, card: str = "4242 4242 4242 4242") -> str:
    items = STATE.line_items.get(session["id"], [])
    rows = "".join(
        f'<tr class="line-item"><td><span class="name">{escape(item_name(item["price"]))}</span>'
        + (f' × {item["quantity"]}' if item["quantity"] not in (None, 1) else "")
        + (" (billed on usage)" if item["quantity"] is None else "")
        + f'<span class="interval">{escape(interval_text(item["price"]))}</span></td>'
        f'<td class="amount">{money(item["amount_total"], item["currency"])}</td></tr>'
        for item in items)
    names = [item_name(item["price"]) for item in items if item["quantity"] is not None]
    verb = "Subscribe to" if session["mode"] == "subscription" else "Buy"
    headline = f"{verb} {names[0]}" if names else "Checkout"
    trial = (STATE.session_extras.get(session["id"], {}).get("subscription_data") or {}).get("trial_period_days")
    notice = f'<p id="trial">{escape(str(trial))}-day free trial</p>' if trial else ""
    problem = f'<p id="error">{escape(error)}</p>' if error else ""
    done = "" if session["status"] == "open" else f'<p id="error">This Checkout is {escape(session["status"])}.</p>'
    form = ('<form method="post">'
            f'<label for="card">Card number</label><input id="card" name="card" value="{escape(card)}" '
            'autocomplete="cc-number" inputmode="numeric">'
            '<button id="pay" type="submit" name="action" value="pay">'
            + ("Subscribe" if session["mode"] == "subscription" else "Pay") + '</button>'
            '<button id="decline" type="submit" name="action" value="decline">Pay with a declined card</button>'
            '<button id="back" type="submit" name="action" value="back">← Back</button></form>'
            '<p class="hint">A local test page: no card is charged.</p>')
    body = ('<main class="checkout"><section class="summary">'
            f'<p class="merchant">{escape(settings.BUSINESS_NAME)}<span class="test">TEST MODE</span></p>'
            f'<h1>{escape(headline)}</h1>'
            f'<p id="headline">{money(session["amount_total"], session["currency"])}</p>{notice}'
            f'<table id="line-items">{rows}</table>'
            f'<p id="total"><span>Total due today</span><span>{money(session["amount_total"], session["currency"])}'
            '</span></p></section>'
            f'<section class="pay">{done}{problem}{form}</section></main>')
    return html_page(headline, body, CHECKOUT_STYLE)


def checkout_post(session: dict, form: dict):
    """(status, html, redirect location)."""
    action = form.get("action", "pay")
    if action == "back":
        return 303, "", session.get("cancel_url") or f"{settings.BASE_URL}/checkout/{session['id']}"
    number = "4000 0000 0000 0002" if action == "decline" else form.get("card", "")
    try:
        checkout_pay(session, card_number(number))
    except PageError as e:
        return 200, checkout_page(session, str(e), number), None
    success = (session.get("success_url") or f"{settings.BASE_URL}/checkout/{session['id']}")
    return 303, "", success.replace("{CHECKOUT_SESSION_ID}", session["id"])


def portal_allows(portal: dict, feature: str) -> bool:
    """Whether the session's configuration enables `feature` (everything, for a session without one)."""
    config = STATE.portal_configurations.get(portal.get("configuration") or "")
    return config is None or bool(config["features"][feature]["enabled"])


def portal_switch_prices(portal: dict, current: dict) -> list:
    """The prices the portal offers to switch to: those of the configuration's `subscription_update`
    products (every price of a product listed without `prices`), other than `current`; every other licensed
    recurring price with a lookup key for a session without a configuration."""
    config = STATE.portal_configurations.get(portal.get("configuration") or "")
    if config is not None and not config["features"]["subscription_update"]["enabled"]:
        return []
    offered = None
    if config is not None:
        offered = {(product["product"], price) for product in config["features"]["subscription_update"]["products"]
                   for price in product["prices"] or [None]}
    return [p for p in STATE.prices.values()
            if p["active"] and p["recurring"] and p["lookup_key"] and p["id"] != current["id"]
            and p["recurring"].get("usage_type", "licensed") == "licensed"
            and (offered is None or (p["product"], p["id"]) in offered or (p["product"], None) in offered)]


def portal_page(portal: dict, error: str | None = None) -> str:
    """The buttons follow the session's configuration: switches (`subscription_update`), `#cancel`
    (`subscription_cancel`; `#resume` always shows on a subscription set to cancel), the card buttons
    (`payment_method_update`)."""
    customer_id = portal["customer"]
    subs = live_subscriptions(customer_id)
    problem = f'<p id="error">{escape(error)}</p>' if error else ""
    back = (f'<p><a id="return" href="{escape(portal["return_url"])}">Return</a></p>'
            if portal.get("return_url") else "")
    if not subs:
        return html_page("Billing portal (fake Stripe)",
                         f'<h1>Billing</h1>{problem}<p id="no-subscription">No active subscription.</p>{back}')
    sub = subs[0]
    item = sub["items"]["data"][0]
    price = item["price"]
    pm = STATE.payment_methods.get(default_card(sub, customer_id) or "")
    last4 = pm["card"]["last4"] if pm else "none"
    end = item["current_period_end"]
    invoice = STATE.invoices.get(sub.get("latest_invoice") or "")
    switches = "".join(
        f'<button type="submit" name="switch" value="{escape(p["id"])}" data-price="{escape(p["lookup_key"])}">'
        f'Switch to {escape(price_name(p))} ({money(p["unit_amount"], p["currency"])} '
        f'{escape(interval_text(p))})</button>'
        for p in portal_switch_prices(portal, price))
    at_end = sub["cancel_at_period_end"]
    buttons = switches
    if at_end:
        buttons += '<button id="resume" type="submit" name="action" value="resume">Renew plan</button>'
    elif portal_allows(portal, "subscription_cancel"):
        buttons += '<button id="cancel" type="submit" name="action" value="cancel">Cancel plan</button>'
    if portal_allows(portal, "payment_method_update"):
        buttons += ('<button id="card-failing" type="submit" name="action" value="card-failing">Use a card whose '
                    'charges fail (4000 0000 0000 0341)</button>'
                    '<button id="card-ok" type="submit" name="action" value="card-ok">Use a good card '
                    '(4242 4242 4242 4242)</button>')
    if invoice is not None and invoice["status"] == "open":
        buttons += (f'<button id="pay-invoice" type="submit" name="action" value="pay-invoice">Pay the open '
                    f'invoice ({money(invoice["amount_remaining"], invoice["currency"])})</button>')
    body = (f'<h1>Billing</h1>{problem}<dl id="subscription" data-subscription="{escape(sub["id"])}">'
            f'<dt>Plan</dt><dd id="plan">{escape(price_name(price))} × {item["quantity"]} '
            f'({money(price["unit_amount"], price["currency"])} {escape(interval_text(price))})</dd>'
            f'<dt>Status</dt><dd id="status">{escape(sub["status"])}</dd>'
            f'<dt>Current period ends</dt><dd id="period-end" data-unix="{end}">'
            f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(end))}</dd>'
            f'<dt>Cancels at period end</dt><dd id="cancel-at-period-end">{"yes" if at_end else "no"}</dd>'
            f'<dt>Card</dt><dd id="card-last4">{escape(last4)}</dd></dl>'
            f'<form method="post">{buttons}</form>{back}')
    return html_page("Billing portal (fake Stripe)", body)


def portal_post(portal: dict, form: dict):
    """(status, html, redirect location): the action through the same functions as the API."""
    subs = live_subscriptions(portal["customer"])
    action = form.get("action")
    try:
        if action in ("card-failing", "card-ok") and not portal_allows(portal, "payment_method_update"):
            raise PageError("This portal does not let customers update their payment method.")
        if action == "cancel" and not portal_allows(portal, "subscription_cancel"):
            raise PageError("This portal does not let customers cancel their subscription.")
        if action in ("card-failing", "card-ok"):
            replace_card(portal["customer"], "4000000000000341" if action == "card-failing" else "4242424242424242")
        elif not subs:
            raise PageError("No active subscription.")
        elif form.get("switch"):
            item = subs[0]["items"]["data"][0]
            if form["switch"] not in [p["id"] for p in portal_switch_prices(portal, item["price"])]:
                raise PageError("This portal does not offer that plan.")
            update_subscription({"items": [{"id": item["id"], "price": form["switch"]}],
                                 "proration_behavior": "create_prorations"}, subs[0]["id"])
        elif action == "cancel":
            update_subscription({"cancel_at_period_end": "true"}, subs[0]["id"])
        elif action == "resume":
            update_subscription({"cancel_at_period_end": "false"}, subs[0]["id"])
        elif action == "pay-invoice":
            invoice = STATE.invoices.get(subs[0].get("latest_invoice") or "")
            if invoice is None or invoice["status"] != "open":
                raise PageError("There is no open invoice to pay.")
            pay_invoice({}, invoice["id"])
        else:
            raise PageError(f"Unknown action: {action}")
    except (PageError, StripeError) as e:
        return 200, portal_page(portal, str(e)), None
    return 303, "", f"{settings.BASE_URL}/portal/{portal['id']}"


def page_request(method: str, path: str, form: dict):
    """(status, html, redirect location) for GET|POST /checkout/{id} and /portal/{id}. Runs under LOCK."""
    kind, _, id_ = path.strip("/").partition("/")
    if kind == "checkout" and id_ in STATE.sessions:
        session = STATE.sessions[id_]
        if method == "POST":
            return checkout_post(session, form)
        expire_if_due(session)
        return 200, checkout_page(session), None
    if kind == "portal" and id_ in STATE.portal_sessions:
        portal = STATE.portal_sessions[id_]
        return portal_post(portal, form) if method == "POST" else (200, portal_page(portal), None)
    return 404, html_page("Not found (fake Stripe)", f"<h1>Not found</h1><p>No such page: {escape(path)}</p>"), None
