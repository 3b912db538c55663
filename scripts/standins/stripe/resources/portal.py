"""The billing portal: sessions (a given, active `configuration` or the account's default, which a fresh
account lacks) and configurations (create, retrieve, update, list; the Dashboard's default)."""

from __future__ import annotations

import copy

from .. import settings
from ..forms import as_bool, form_values, merge_metadata, page
from ..state import STATE, StripeError, missing_param, new_id, no_such, now

NO_DEFAULT_PORTAL_CONFIGURATION = (
    "No configuration provided and your test mode default configuration has not been created. Provide a "
    "configuration or create your default by saving your customer portal settings in test mode at "
    "https://dashboard.stripe.com/test/settings/billing/portal.")


def create_portal_session(p):
    """`configuration` (an existing, active one) or else the account's default one, which a fresh account
    lacks (POST /__fake/portal/default saves it)."""
    if p.get("customer") is None:
        raise missing_param("customer")
    STATE.customer(p["customer"], "customer", 400)
    if p.get("configuration") is not None:
        config = STATE.portal_configurations.get(p["configuration"])
        if config is None:
            raise no_such("configuration", p["configuration"], "configuration", 400)
    else:
        config = default_portal_configuration()
        if config is None:
            raise StripeError(400, NO_DEFAULT_PORTAL_CONFIGURATION)
    if not config["active"]:
        raise StripeError(400, f"The configuration `{config['id']}` is inactive: activate it or provide an "
                               "active configuration.", param="configuration")
    sid = new_id("bps_", 24)
    session = {"id": sid, "object": "billing_portal.session", "configuration": config["id"],
               "created": now(), "customer": p["customer"], "flow": None, "livemode": False, "locale": None,
               "on_behalf_of": None, "return_url": p.get("return_url") or config["default_return_url"],
               "url": f"{settings.BASE_URL}/portal/{sid}" if settings.HOSTED_PAGES else f"https://billing.stripe.com/p/session/{sid}"}
    STATE.portal_sessions[sid] = session
    return session


def portal_configuration(id_: str, p: dict, is_default: bool = False) -> dict:
    stamp = now()
    config = {"id": id_, "object": "billing_portal.configuration", "active": True, "application": None,
              "business_profile": {"headline": None, "privacy_policy_url": None, "terms_of_service_url": None},
              "created": stamp, "default_return_url": None,
              "features": {"customer_update": {"allowed_updates": [], "enabled": False},
                           "invoice_history": {"enabled": True},
                           "payment_method_update": {"enabled": True},
                           "subscription_cancel": {"cancellation_reason": {"enabled": False, "options": []},
                                                   "enabled": False, "mode": "at_period_end",
                                                   "proration_behavior": "none"},
                           "subscription_update": {"default_allowed_updates": [], "enabled": False,
                                                   "products": [], "proration_behavior": "none"}},
              "is_default": is_default, "livemode": False, "login_page": {"enabled": False, "url": None},
              "metadata": {}, "updated": stamp}
    return apply_portal_configuration(config, p)


def apply_portal_configuration(current: dict, p: dict) -> dict:
    """`current` with the changes of `p` (create's and update's params), as a new dict: a refused change
    leaves `current` untouched."""
    config = copy.deepcopy(current)
    features = p.get("features") or {}
    if not isinstance(features, dict):
        raise StripeError(400, "Invalid object", param="features")
    for name, values in features.items():
        if name not in config["features"]:
            raise StripeError(400, f"Received unknown parameter: features[{name}]", param=f"features[{name}]")
        if not isinstance(values, dict):
            raise StripeError(400, "Invalid object", param=f"features[{name}]")
        target = config["features"][name]
        for key, value in values.items():
            if key not in target:
                raise StripeError(400, f"Received unknown parameter: features[{name}][{key}]",
                                  param=f"features[{name}][{key}]")
            if key == "enabled":
                value = as_bool(values, "enabled")
            if key == "products":
                value = [portal_product(product, i) for i, product in enumerate(value or [])]
            target[key] = value
    if p.get("default_return_url") is not None:
        config["default_return_url"] = p["default_return_url"] or None
    if "metadata" in p:
        config["metadata"] = merge_metadata(config["metadata"], p["metadata"])
    update = config["features"]["subscription_update"]
    if update["enabled"] and not update["products"]:
        raise StripeError(400, "You must specify at least one product when subscription updates are enabled.",
                          param="features[subscription_update][products]")
    config["updated"] = now()
    return config


def portal_product(product: dict, index: int) -> dict:
    param = f"features[subscription_update][products][{index}]"
    product = product if isinstance(product, dict) else {}
    if product.get("product") not in STATE.products:
        raise no_such("product", str(product.get("product")), param + "[product]", 400)
    prices = product.get("prices") or []
    for price in prices:
        if price not in STATE.prices or STATE.prices[price]["product"] != product["product"]:
            raise StripeError(400, f"The price {price} does not belong to the product {product['product']}.",
                              param=param + "[prices]")
    return {"prices": prices, "product": product["product"]}


def default_portal_configuration() -> dict | None:
    """The account's default configuration: none until the Dashboard's portal settings are saved."""
    return next((c for c in STATE.portal_configurations.values() if c["is_default"]), None)


# What the Dashboard saves the first time its portal settings are saved (switching plans needs products, so
# it starts off).
DASHBOARD_PORTAL_FEATURES = {"customer_update": {"enabled": "true", "allowed_updates": ["email", "address"]},
                             "invoice_history": {"enabled": "true"},
                             "payment_method_update": {"enabled": "true"},
                             "subscription_cancel": {"enabled": "true", "mode": "at_period_end"}}


def save_default_portal_configuration(data: dict) -> dict:
    """POST /__fake/portal/default: saving the Dashboard's portal settings. Creates the account's default
    configuration (DASHBOARD_PORTAL_FEATURES) the first time, then updates it; `data` overrides fields in the
    API's shape (`features`, `metadata`, `default_return_url`), as JSON."""
    params = form_values(data if isinstance(data, dict) else {})
    current = default_portal_configuration()
    if current is None:
        config = portal_configuration(new_id("bpc_", 24), {"features": DASHBOARD_PORTAL_FEATURES}, is_default=True)
        config = apply_portal_configuration(config, params)
    else:
        config = apply_portal_configuration(current, params)
    STATE.portal_configurations[config["id"]] = config
    return config


def create_portal_configuration(p):
    """A non-default configuration (`is_default: false`), as Stripe's API creates; only the Dashboard
    makes the default one."""
    if p.get("features") is None:
        raise missing_param("features")
    config = portal_configuration(new_id("bpc_", 24), p)
    STATE.portal_configurations[config["id"]] = config
    return config


def retrieve_portal_configuration(p, id_):
    if id_ not in STATE.portal_configurations:
        raise no_such("billing_portal.configuration", id_)
    return STATE.portal_configurations[id_]


def update_portal_configuration(p, id_):
    config = apply_portal_configuration(retrieve_portal_configuration(p, id_), p)
    active = as_bool(p, "active")
    if active is not None:
        config["active"] = active
    STATE.portal_configurations[id_] = config
    return config


def list_portal_configurations(p):
    is_default, active = as_bool(p, "is_default"), as_bool(p, "active")
    return page("/v1/billing_portal/configurations", list(reversed(STATE.portal_configurations.values())), p,
                "billing_portal.configuration",
                lambda c: is_default in (None, c["is_default"]) and active in (None, c["active"]))
