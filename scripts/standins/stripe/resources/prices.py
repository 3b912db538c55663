"""Prices: create (of an existing product; `recurring[...]`, metered ones backed by an active meter,
`transform_quantity`, `lookup_key` + `transfer_lookup_key`), retrieve, update, list with Stripe's filters."""

from __future__ import annotations

import re

from ..forms import as_bool, as_int, merge_metadata, one_of, optional_string, page
from ..state import STATE, StripeError, missing_param, no_such, price_object
from .meters import retrieve_meter
from .products import retrieve_product


def retrieve_price(p, id_):
    if id_ not in STATE.prices:
        raise no_such("price", id_)
    return STATE.prices[id_]


def list_prices(p):
    """Filters `lookup_keys[]`, `active`, `product`, `type`, `currency`, `recurring[interval|usage_type|meter]`;
    paginated newest first."""
    keys, active, type_ = p.get("lookup_keys"), as_bool(p, "active"), p.get("type")
    if keys is not None:
        keys = keys if isinstance(keys, list) else [keys]
    if type_ is not None and type_ not in ("one_time", "recurring"):
        raise StripeError(400, "Invalid type: must be one of one_time or recurring", param="type")
    recurring = p.get("recurring") if isinstance(p.get("recurring"), dict) else {}

    def keep(x):
        return ((keys is None or x["lookup_key"] in keys) and (active is None or x["active"] == active)
                and p.get("product") in (None, x["product"]) and type_ in (None, x["type"])
                and p.get("currency") in (None, x["currency"])
                and all(value == (x["recurring"] or {}).get(field) for field, value in recurring.items()))

    return page("/v1/prices", list(reversed(STATE.prices.values())), p, "price", keep)


TAX_BEHAVIORS = ("exclusive", "inclusive", "unspecified")
MAX_INTERVAL_COUNT = {"day": 1095, "week": 156, "month": 36, "year": 3}  # Stripe's three-year ceiling


def recurring_of(raw) -> dict | None:
    """`recurring[...]` checked like Stripe; metered prices need an active meter."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise StripeError(400, "Invalid object", param="recurring")
    interval = one_of(raw.get("interval"), "recurring[interval]", ("day", "month", "week", "year"))
    if interval is None:
        raise missing_param("recurring[interval]")
    count = as_int(raw.get("interval_count", 1), "recurring[interval_count]")
    if not 1 <= count <= MAX_INTERVAL_COUNT[interval]:
        raise StripeError(400, "The maximum billing interval is 3 years. Please choose a shorter "
                               "`recurring[interval]` or `recurring[interval_count]`.",
                          param="recurring[interval_count]")
    usage = one_of(raw.get("usage_type", "licensed"), "recurring[usage_type]", ("licensed", "metered"))
    meter = raw.get("meter") or None
    if usage == "metered" and meter is None:
        raise StripeError(400, "Prices with `recurring[usage_type]=metered` must be backed by a billing meter: "
                               "pass `recurring[meter]`.", code="parameter_missing", param="recurring[meter]")
    if usage == "licensed" and meter is not None:
        raise StripeError(400, "`recurring[meter]` can only be set when `recurring[usage_type]` is `metered`.",
                          param="recurring[meter]")
    if meter is not None and retrieve_meter({}, meter, "recurring[meter]", 400)["status"] != "active":
        raise StripeError(400, f"The meter `{meter}` is inactive: you can't attach a deactivated meter to a "
                               "price.", param="recurring[meter]")
    trial = raw.get("trial_period_days")
    return {"interval": interval, "interval_count": count, "meter": meter, "usage_type": usage,
            "trial_period_days": None if trial is None else as_int(trial, "recurring[trial_period_days]")}


def transform_quantity_of(raw) -> dict | None:
    """`transform_quantity[divide_by]` (a positive integer) and `[round]` (`up` or `down`), both required."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise StripeError(400, "Invalid object", param="transform_quantity")
    for field in ("divide_by", "round"):
        if raw.get(field) is None:
            raise missing_param(f"transform_quantity[{field}]")
    divide_by = as_int(raw["divide_by"], "transform_quantity[divide_by]")
    if divide_by < 1:
        raise StripeError(400, "Invalid positive integer", code="parameter_invalid_integer",
                          param="transform_quantity[divide_by]")
    return {"divide_by": divide_by,
            "round": one_of(raw["round"], "transform_quantity[round]", ("down", "up"))}


def lookup_key_holder(key, price_id, transfer: bool):
    """The price holding `key` that must give it up (None if none); a 400 without `transfer_lookup_key`."""
    holder = next((x for x in STATE.prices.values() if key and x["lookup_key"] == key and x["id"] != price_id),
                  None)
    if holder is not None and not transfer:
        raise StripeError(400, f"A price (`{holder['id']}`) already uses that lookup key.", param="lookup_key")
    return holder


def create_price(p):
    if p.get("product") is None:
        if p.get("product_data") is not None:
            raise StripeError(400, "The fake creates prices only of an existing `product`.", param="product_data")
        raise StripeError(400, "You must specify either `product` or `product_data` when creating a price.",
                          code="parameter_missing", param="product")
    product = retrieve_product({}, p["product"], "product", 400)
    currency = p.get("currency")
    if currency is None:
        raise missing_param("currency")
    if not re.fullmatch(r"[A-Za-z]{3}", currency):
        raise StripeError(400, f"Invalid currency: {currency}. Stripe currently supports these currencies: "
                               "usd, eur, gbp, ... (see https://stripe.com/docs/currencies)", param="currency")
    if p.get("unit_amount") is None:
        raise missing_param("unit_amount")
    amount = as_int(p["unit_amount"], "unit_amount")
    if amount < 0:
        raise StripeError(400, "Invalid non-negative integer", code="parameter_invalid_integer", param="unit_amount")
    recurring = recurring_of(p.get("recurring"))
    transform = transform_quantity_of(p.get("transform_quantity"))
    tax_behavior = one_of(p.get("tax_behavior", "unspecified"), "tax_behavior", TAX_BEHAVIORS)
    key = optional_string(p, "lookup_key", 200)
    holder = lookup_key_holder(key, None, bool(as_bool(p, "transfer_lookup_key")))
    active = as_bool(p, "active")
    price = price_object({"product": product["id"], "currency": currency.lower(), "unit_amount": amount,
                          "recurring": recurring, "lookup_key": key, "nickname": optional_string(p, "nickname"),
                          "metadata": merge_metadata({}, p.get("metadata")),
                          "active": True if active is None else active})
    if recurring is not None:
        price["recurring"].update(meter=recurring["meter"])
    price["tax_behavior"], price["transform_quantity"] = tax_behavior, transform
    if holder is not None:
        holder["lookup_key"] = None
    STATE.prices[price["id"]] = price
    return price


def update_price(p, id_):
    price = retrieve_price(p, id_)
    active = as_bool(p, "active")
    tax_behavior = one_of(p.get("tax_behavior"), "tax_behavior", TAX_BEHAVIORS)
    if tax_behavior not in (None, price["tax_behavior"]) and price["tax_behavior"] != "unspecified":
        raise StripeError(400, "You cannot change `tax_behavior` once it is set to `inclusive` or `exclusive`.",
                          param="tax_behavior")
    holder = None
    if "lookup_key" in p:
        key = optional_string(p, "lookup_key", 200)
        holder = lookup_key_holder(key, id_, bool(as_bool(p, "transfer_lookup_key")))
        price["lookup_key"] = key
    if holder is not None:
        holder["lookup_key"] = None
    if active is not None:
        price["active"] = active
    if tax_behavior is not None:
        price["tax_behavior"] = tax_behavior
    if "nickname" in p:
        price["nickname"] = optional_string(p, "nickname")
    price["metadata"] = merge_metadata(price["metadata"], p.get("metadata"))
    return price
