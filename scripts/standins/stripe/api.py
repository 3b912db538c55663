"""The /v1 API: the routes, authentication, Stripe's idempotency (replays, conflicts, in-progress keys),
injected failures, `expand[]`, --latency-ms."""

from __future__ import annotations

import base64
import copy
import json
import time

from ..http import match_route, routes
from . import events, keys, settings
from .events import REQUEST
from .forms import expand
from .resources import (
    checkout_sessions,
    customers,
    invoices,
    meters,
    payments,
    portal,
    previews,
    prices,
    products,
    schedules,
    subscriptions,
    webhook_endpoints,
)
from .state import LOCK, STATE, SUPPORT, StripeError, claim, new_id

ROUTES = routes([
    ("POST", r"/v1/customers", customers.api_create_customer),
    ("GET", r"/v1/customers", customers.list_customers),
    ("GET", r"/v1/customers/search", customers.search_customers),
    ("GET", r"/v1/customers/([^/]+)", customers.retrieve_customer),
    ("POST", r"/v1/customers/([^/]+)", customers.update_customer),
    ("DELETE", r"/v1/customers/([^/]+)", customers.delete_customer),
    ("POST", r"/v1/products", products.create_product),
    ("GET", r"/v1/products", products.list_products),
    ("GET", r"/v1/products/([^/]+)", products.retrieve_product),
    ("POST", r"/v1/products/([^/]+)", products.update_product),
    ("POST", r"/v1/products/([^/]+)/features", products.attach_product_feature),
    ("GET", r"/v1/products/([^/]+)/features", products.list_product_features),
    ("GET", r"/v1/products/([^/]+)/features/([^/]+)", products.retrieve_product_feature),
    ("DELETE", r"/v1/products/([^/]+)/features/([^/]+)", products.detach_product_feature),
    ("POST", r"/v1/prices", prices.create_price),
    ("GET", r"/v1/prices", prices.list_prices),
    ("GET", r"/v1/prices/([^/]+)", prices.retrieve_price),
    ("POST", r"/v1/prices/([^/]+)", prices.update_price),
    ("POST", r"/v1/entitlements/features", products.create_feature),
    ("GET", r"/v1/entitlements/features", products.list_features),
    ("GET", r"/v1/entitlements/features/([^/]+)", products.retrieve_feature),
    ("POST", r"/v1/entitlements/features/([^/]+)", products.update_feature),
    ("POST", r"/v1/billing/meters", meters.create_meter),
    ("GET", r"/v1/billing/meters", meters.list_meters),
    ("GET", r"/v1/billing/meters/([^/]+)", meters.retrieve_meter),
    ("POST", r"/v1/billing/meters/([^/]+)", meters.update_meter),
    ("POST", r"/v1/billing/meters/([^/]+)/deactivate", meters.deactivate_meter),
    ("POST", r"/v1/billing/meters/([^/]+)/reactivate", meters.reactivate_meter),
    ("POST", r"/v1/billing/meter_events", meters.create_meter_event),
    ("GET", r"/v1/subscriptions", subscriptions.list_subscriptions),
    ("GET", r"/v1/subscriptions/([^/]+)", subscriptions.get_subscription),
    ("POST", r"/v1/subscriptions/([^/]+)", subscriptions.update_subscription),
    ("DELETE", r"/v1/subscriptions/([^/]+)", subscriptions.cancel_subscription),
    ("POST", r"/v1/checkout/sessions", checkout_sessions.create_checkout_session),
    ("GET", r"/v1/checkout/sessions/([^/]+)", checkout_sessions.retrieve_checkout_session),
    ("GET", r"/v1/checkout/sessions/([^/]+)/line_items", checkout_sessions.list_checkout_line_items),
    ("POST", r"/v1/billing_portal/sessions", portal.create_portal_session),
    ("POST", r"/v1/billing_portal/configurations", portal.create_portal_configuration),
    ("GET", r"/v1/billing_portal/configurations", portal.list_portal_configurations),
    ("GET", r"/v1/billing_portal/configurations/([^/]+)", portal.retrieve_portal_configuration),
    ("POST", r"/v1/billing_portal/configurations/([^/]+)", portal.update_portal_configuration),
    ("POST", r"/v1/webhook_endpoints", webhook_endpoints.create_webhook_endpoint),
    ("GET", r"/v1/webhook_endpoints", webhook_endpoints.list_webhook_endpoints),
    ("GET", r"/v1/webhook_endpoints/([^/]+)", webhook_endpoints.retrieve_webhook_endpoint),
    ("POST", r"/v1/webhook_endpoints/([^/]+)", webhook_endpoints.update_webhook_endpoint),
    ("DELETE", r"/v1/webhook_endpoints/([^/]+)", webhook_endpoints.delete_webhook_endpoint),
    ("POST", r"/v1/invoices/create_preview", previews.create_preview_invoice),
    ("POST", r"/v1/subscription_schedules", schedules.create_schedule),
    ("GET", r"/v1/subscription_schedules/([^/]+)", schedules.retrieve_schedule),
    ("POST", r"/v1/subscription_schedules/([^/]+)", schedules.update_schedule),
    ("POST", r"/v1/subscription_schedules/([^/]+)/release", schedules.release_schedule),
    ("GET", r"/v1/events", events.list_events),
    ("GET", r"/v1/events/([^/]+)", events.retrieve_event),
    ("GET", r"/v1/invoices", invoices.list_invoices),
    ("GET", r"/v1/invoices/([^/]+)", invoices.retrieve_invoice),
    ("POST", r"/v1/invoices/([^/]+)/pay", invoices.pay_invoice),
    ("GET", r"/v1/payment_intents/([^/]+)", payments.retrieve_payment_intent),
    ("GET", r"/v1/payment_methods/([^/]+)", payments.retrieve_payment_method),
])


def authenticate(header) -> str:
    if not header:
        raise StripeError(401, "You did not provide an API key. You need to provide your API key in the "
                               "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                               "YOUR_SECRET_KEY'). " + SUPPORT)
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "basic":
        credential = base64.b64decode(credential + "==").decode(errors="replace").split(":")[0]
    if credential.startswith(("sk_test_", "rk_test_")):
        return credential
    raise StripeError(401, f"Invalid API Key provided: {credential[:8]}{'*' * 8}{credential[-4:]}")


def find_route(method: str, path: str):
    route = match_route(ROUTES, method, path)
    if route:
        handler, groups = route
        return lambda params: handler(params, *groups)
    raise StripeError(404, f"Unrecognized request URL ({method}: {path}). {SUPPORT}")


def execute(endpoint, method: str, path: str, params: dict):
    """The endpoint's (status, body text), or an injected failure; the boolean says whether to store it."""
    failure = STATE.take_failure(method, path)
    if failure:  # like Stripe, rate-limited and 5xx answers are not saved: a retry with the key runs again
        return failure.status, json.dumps({"error": failure.error}), failure.status < 429
    try:
        body = copy.deepcopy(endpoint(params))
        expansions = params.get("expand")
        for expansion in expansions if isinstance(expansions, list) else []:
            expand(body, expansion.split("."))
        return 200, json.dumps(body), True
    except StripeError as e:
        return e.status, json.dumps({"error": e.error}), True


def api(method: str, path: str, params: dict, headers, record: dict):
    """Answers one /v1 request: (status, body text, extra headers)."""
    key = headers.get("Idempotency-Key") if method in ("POST", "DELETE") else None
    extra = {"Request-Id": new_id("req_"), **({"Idempotency-Key": key} if key else {})}
    try:
        api_key = authenticate(headers.get("Authorization"))
        endpoint = find_route(method, path)
        with LOCK:
            keys.check(api_key, method, path)
        slot = (api_key, key) if key else None
        with LOCK:
            entry = claim(slot, method, path, params) if slot else None
            if entry:
                record["replayed"] = True
        if entry:
            return entry["status"], entry["body"], {**extra, "Idempotent-Replayed": "true"}
    except StripeError as e:
        return e.status, json.dumps({"error": e.error}), extra
    if settings.LATENCY_S:
        time.sleep(settings.LATENCY_S)
    with LOCK:
        REQUEST.update(id=extra["Request-Id"], idempotency_key=key)
        try:
            status, body, store = execute(endpoint, method, path, params)
        except Exception as e:  # a bug in the fake: answer like Stripe's 500 and free the key
            status, body, store = 500, json.dumps({"error": {"type": "api_error", "message": repr(e)}}), False
        finally:
            REQUEST.update(id=None, idempotency_key=None)
        if slot and store and slot in STATE.idempotency:
            STATE.idempotency[slot].update(done=True, status=status, body=body)
        elif slot:
            STATE.idempotency.pop(slot, None)
    return status, body, extra
