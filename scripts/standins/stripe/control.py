"""The control API for tests (no auth, JSON): /__fake/... (see the package's docstring)."""

from __future__ import annotations

import re
import time

from . import keys, state
from .clock import run_clock
from .events import DELIVERY, REQUEST
from .resources.customers import create_customer
from .resources.portal import save_default_portal_configuration
from .settings import DAY
from .state import STATE, new_id, now, price_object, set_clock, subscription_object


def control(method: str, path: str, data: dict):
    """(status, JSON-able body). Runs under LOCK."""
    if (method, path) == ("POST", "/__fake/fail"):
        # {"count": 1, "status": 500, "method": null (any) | "POST", and one of "path" (exact),
        #  "path_regex" (matches the whole path) or "path_prefix" (default "/v1")}
        given = [k for k in ("path", "path_prefix", "path_regex") if data.get(k) is not None]
        if len(given) > 1:
            return 400, {"error": {"message": f"give at most one of path, path_prefix, path_regex (got "
                                              f"{', '.join(given)})"}}
        rule = {"count": int(data.get("count", 1)), "status": int(data.get("status", 500)),
                "method": data["method"].upper() if data.get("method") else None}
        if data.get("path") is not None:
            rule["path"] = str(data["path"])
        elif data.get("path_regex") is not None:
            try:
                rule["path_regex"] = re.compile(str(data["path_regex"]))
            except re.error as e:
                return 400, {"error": {"message": f"bad path_regex: {e}"}}
        else:
            rule["path_prefix"] = str(data.get("path_prefix", "/v1"))
        STATE.failures.append(rule)
        return 200, {"ok": True}
    if (method, path) == ("POST", "/__fake/restricted_keys"):
        return keys.make(data)
    if (method, path) == ("POST", "/__fake/portal/default"):
        return 200, save_default_portal_configuration(data)
    if (method, path) == ("GET", "/__fake/requests"):
        return 200, STATE.requests
    if (method, path) == ("GET", "/__fake/customers"):
        return 200, [{**c, "deleted": True} if id_ in STATE.deleted else c for id_, c in STATE.customers.items()]
    if (method, path) == ("POST", "/__fake/customers"):  # a customer with a chosen id (fixtures name one)
        customer = create_customer({k: v for k, v in data.items() if k != "id"})
        del STATE.customers[customer["id"]]
        customer["id"] = data.get("id") or customer["id"]
        STATE.customers[customer["id"]] = customer
        return 200, customer
    if (method, path) == ("POST", "/__fake/prices"):
        price = price_object(data)
        for other in STATE.prices.values():  # lookup keys are unique: the new price takes it over
            if price["lookup_key"] and other["lookup_key"] == price["lookup_key"]:
                other["lookup_key"] = None
        STATE.prices[price["id"]] = price
        return 200, price
    if (method, path) == ("POST", "/__fake/subscriptions"):
        # One item (`price`, `quantity`), or several: `items: [{"price", "quantity"}]`.
        wanted = data.get("items") or [{"price": data.get("price"), "quantity": data.get("quantity", 1)}]
        if not data.get("customer") or any(i.get("price") not in STATE.prices for i in wanted):
            return 400, {"error": {"message": "seed a subscription with a `customer` and seeded prices "
                                              "(`price`, or `items: [{price, quantity}]`)"}}
        sub = subscription_object(data, [(STATE.prices[i["price"]], int(i.get("quantity", 1))) for i in wanted])
        STATE.subscriptions[sub["id"]] = sub
        return 200, sub
    if (method, path) == ("GET", "/__fake/meter_events"):
        return 200, STATE.meter_events
    if (method, path) == ("POST", "/__fake/listen"):
        # `stripe listen --forward-to <url>`: every event type to `url`, signed with `secret` (one is made up
        # and answered when none is given); registering a url again replaces its secret.
        url = data.get("url")
        if not url or not str(url).startswith(("http://", "https://")):
            return 400, {"error": {"message": "POST /__fake/listen needs an http(s) `url`"}}
        secret = data.get("secret") or "whsec_" + new_id("", 32)
        STATE.targets[url] = {"url": url, "secret": secret}
        return 200, {"ok": True, "url": url, "secret": secret, "targets": len(STATE.targets)}
    if (method, path) == ("GET", "/__fake/deliveries"):
        return 200, STATE.deliveries
    if (method, path) == ("GET", "/__fake/events"):
        return 200, STATE.events
    if (method, path) == ("GET", "/__fake/clock"):
        stamp = now()
        return 200, {"now": stamp, "offset_seconds": state.CLOCK_OFFSET,
                     "iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))}
    if (method, path) == ("POST", "/__fake/clock/advance"):
        seconds = int(float(data.get("days", 0)) * DAY + float(data.get("seconds", 0)))
        if seconds < 0:
            return 400, {"error": {"message": "the clock only moves forward"}}
        start = now()
        REQUEST.update(id=None, idempotency_key=None)
        done = run_clock(start + seconds)
        stamp = now()
        return 200, {"from": start, "to": stamp, "now": stamp,
                     "iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp)), "actions": done}
    if (method, path) == ("POST", "/__fake/reset"):
        STATE.reset()
        set_clock(int(time.time()))
        DELIVERY.reset()
        return 200, {"ok": True}
    return 404, {"error": {"message": f"no control endpoint {method} {path}"}}
