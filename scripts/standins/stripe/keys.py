"""Restricted API keys (`rk_test_…`): each has a permission per resource, None, Read or Write (Write implies
Read), set when it is made (POST /__fake/restricted_keys, as the Dashboard's "Create restricted key" form).
A request the key has no permission for is refused as Stripe refuses it: HTTP 403, naming the permission that
would allow it (`rak_<resource>_read|write`). A `rk_test_` key the fake never made is an invalid key (401), as
an unknown key is at Stripe. GET needs Read; POST and DELETE need Write — except POST
/v1/invoices/create_preview, which reads (it replaces GET /v1/invoices/upcoming and creates nothing).
`expand[]` of another resource is not checked."""

from __future__ import annotations

import re

from .state import STATE, StripeError, new_id

# (path regex, resource), first match wins. The resource names are the stems of Stripe's permission names.
RESOURCES = [
    (r"/v1/customers(/.*)?", "customer"),
    (r"/v1/products/[^/]+/features(/.*)?", "entitlements_feature"),
    (r"/v1/entitlements/features(/.*)?", "entitlements_feature"),
    (r"/v1/products(/.*)?", "product"),
    (r"/v1/prices(/.*)?", "price"),
    (r"/v1/billing/meter_events", "billing_meter_event"),
    (r"/v1/billing/meters(/.*)?", "billing_meter"),
    (r"/v1/subscription_schedules(/.*)?", "subscription_schedule"),
    (r"/v1/subscriptions(/.*)?", "subscription"),
    (r"/v1/checkout/sessions(/.*)?", "checkout_session"),
    (r"/v1/billing_portal/(sessions|configurations)(/.*)?", "billing_portal"),
    (r"/v1/webhook_endpoints(/.*)?", "webhook_endpoint"),
    (r"/v1/invoices(/.*)?", "invoice"),
    (r"/v1/events(/.*)?", "event"),
    (r"/v1/payment_intents(/.*)?", "payment_intent"),
    (r"/v1/payment_methods(/.*)?", "payment_method"),
]
NAMES = sorted({name for _, name in RESOURCES})
LEVELS = {"none": 0, "read": 1, "write": 2}
READS = {("POST", "/v1/invoices/create_preview")}


def make(data: dict):
    """POST /__fake/restricted_keys {"permissions": {"customer": "write", "price": "read", ...}}: a new key."""
    permissions = data.get("permissions")
    if not isinstance(permissions, dict):
        return 400, {"error": {"message": "give `permissions`: {resource: none|read|write}"}}
    unknown = [r for r in permissions if r not in NAMES]
    bad = [f"{r}={v}" for r, v in permissions.items() if v not in LEVELS]
    if unknown or bad:
        return 400, {"error": {"message": f"unknown resources {unknown} or levels {bad}; resources: {NAMES}"}}
    key = "rk_test_" + new_id("", 24)
    STATE.restricted_keys[key] = {r: LEVELS[v] for r, v in permissions.items()}
    return 200, {"key": key, "permissions": permissions}


def resource(path: str):
    return next((name for pattern, name in RESOURCES if re.fullmatch(pattern, path)), None)


def check(api_key: str, method: str, path: str) -> None:
    """Raises Stripe's refusal when `api_key` is a restricted key without the permission `method path` needs."""
    if not api_key.startswith("rk_"):
        return
    masked = f"{api_key[:8]}{'*' * 8}{api_key[-4:]}"
    granted = STATE.restricted_keys.get(api_key)
    if granted is None:
        raise StripeError(401, f"Invalid API Key provided: {masked}")
    name = resource(path)
    needed = "read" if method == "GET" or (method, path) in READS else "write"
    if name is not None and granted.get(name, 0) >= LEVELS[needed]:
        return
    permission = f"rak_{name or 'unknown'}_{needed}"
    raise StripeError(403, f"The provided key '{masked}' does not have the required permissions for this "
                           f"endpoint on account 'acct_fake'. Having the '{permission}' permission would allow "
                           f"this request to continue.")
