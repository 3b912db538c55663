#!/usr/bin/env python3
"""Seeds the local Stripe stand-in (scripts/fake_stripe.py) with the plan catalog, so a local checkout finds its
prices and the billing portal has Entitle's configuration. Standard library only (tomllib: Python 3.11+).

    seed_fake_stripe.py --base http://127.0.0.1:PORT [--catalog config/plans.toml] [--api-key sk_test_...]

Creates each plan's and credit pack's product (`prod_local_<id>`, named as in the catalog), every price (the
catalog's id, else `price_local_<lookup key>`) — a seat plan's per-seat prices (`[[plans.seats.prices]]`) on
the plan's product, as `entitle catalog apply` makes them — and the billing portal configuration `entitle setup` creates
(through the API, as it does: `metadata[entitle]=setup`, switching between the self-serve base plans' prices
with prorations, cancel at period end, payment method update, invoice history) — a fresh Stripe account, like
the fake, has no default one. Running it again reuses what exists (the configuration is updated).

Prints the portal configuration's id alone on stdout (for STRIPE_PORTAL_CONFIGURATION); what it did goes to
stderr.
"""
import argparse
import json
import sys
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

MARK = "setup"  # the `metadata.entitle` of the configuration `entitle setup` makes (crates/cli/src/setup.rs)


def control(base: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as reply:
        return json.loads(reply.read())


def api(base: str, key: str, method: str, path: str, params: list | None = None,
        idempotency_key: str | None = None) -> tuple:
    """(status, JSON body) of a /v1 request with form-encoded `params` (pairs, repeated keys allowed)."""
    data = urllib.parse.urlencode(params or []).encode() if method != "GET" else None
    if method == "GET" and params:
        path = f"{path}?{urllib.parse.urlencode(params)}"
    headers = {"authorization": f"Bearer {key}"}
    if idempotency_key:
        headers["idempotency-key"] = idempotency_key
    request = urllib.request.Request(f"{base}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def price_id(price: dict) -> str:
    return price.get("id") or f"price_local_{price.get('lookup_key')}"


def portal_params(products: dict) -> list:
    """What `entitle setup` sends (crates/cli/src/setup.rs, portal_params)."""
    params = [("features[subscription_update][enabled]", "true"),
              ("features[subscription_update][proration_behavior]", "create_prorations"),
              ("features[subscription_update][default_allowed_updates][]", "price"),
              ("features[subscription_cancel][enabled]", "true"),
              ("features[subscription_cancel][mode]", "at_period_end"),
              ("features[payment_method_update][enabled]", "true"),
              ("features[invoice_history][enabled]", "true"),
              ("metadata[entitle]", MARK)]
    for i, (product, prices) in enumerate(sorted(products.items())):
        params.append((f"features[subscription_update][products][{i}][product]", product))
        params += [(f"features[subscription_update][products][{i}][prices][]", p) for p in sorted(prices)]
    return params


def seed_overage(base: str, key: str, catalog: dict) -> int:
    """Each `[plans.overage]` limit's billing meter and the plan's metered prices, as `entitle catalog apply`
    creates them (reused when they exist). Answers how many metered prices exist for the catalog."""
    limits = catalog.get("limits", {})
    status, listed = api(base, key, "GET", "/v1/billing/meters", [("limit", "100")])
    if status != 200:
        sys.exit(f"seed_fake_stripe: listing the billing meters: HTTP {status} {listed}")
    meters = {m["event_name"]: m["id"] for m in listed["data"]}
    count = 0
    for plan in catalog.get("plans", []):
        for limit, rate in (plan.get("overage") or {}).items():
            event_name = f"entitle_{limit}"
            if event_name not in meters:
                status, meter = api(base, key, "POST", "/v1/billing/meters", [
                    ("display_name", (limits.get(limit) or {}).get("name") or limit), ("event_name", event_name),
                    ("default_aggregation[formula]", "sum"),
                    ("customer_mapping[event_payload_key]", "stripe_customer_id"),
                    ("customer_mapping[type]", "by_id"), ("value_settings[event_payload_key]", "value")])
                if status != 200:
                    sys.exit(f"seed_fake_stripe: creating the meter {event_name}: HTTP {status} {meter}")
                meters[event_name] = meter["id"]
            for interval in sorted({p["interval"] for p in plan.get("prices", []) if p.get("interval")}):
                lookup_key = f"{plan['id']}_{limit}_overage_{interval}"
                status, found = api(base, key, "GET", "/v1/prices", [("lookup_keys[]", lookup_key)])
                if status != 200:
                    sys.exit(f"seed_fake_stripe: looking up the price {lookup_key}: HTTP {status} {found}")
                if not found["data"]:
                    params = [("product", f"prod_local_{plan['id']}"), ("currency", rate["currency"]),
                              ("unit_amount", str(rate["unit_amount"])), ("recurring[interval]", interval),
                              ("recurring[usage_type]", "metered"), ("recurring[meter]", meters[event_name]),
                              ("lookup_key", lookup_key), ("transfer_lookup_key", "true"),
                              ("metadata[entitle]", plan["id"]), ("metadata[entitle_overage]", limit)]
                    if int(rate.get("per", 1)) != 1:
                        params += [("transform_quantity[divide_by]", str(rate["per"])),
                                   ("transform_quantity[round]", "up")]
                    status, price = api(base, key, "POST", "/v1/prices", params)
                    if status != 200:
                        sys.exit(f"seed_fake_stripe: creating the price {lookup_key}: HTTP {status} {price}")
                count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--catalog", default=str(Path(__file__).resolve().parent.parent / "config" / "plans.toml"))
    parser.add_argument("--api-key", default="sk_test_entitle_local", help="any sk_test_ key: the fake takes all")
    args = parser.parse_args()
    catalog = tomllib.loads(Path(args.catalog).read_text())
    seeded, portal_products = 0, {}
    for kind in ("plans", "credit_packs"):
        for item in catalog.get(kind, []):
            product = f"prod_local_{item['id']}"
            status, body = api(args.base, args.api_key, "POST", "/v1/products",
                               [("id", product), ("name", item.get("name") or item["id"])])
            if status != 200 and (body.get("error") or {}).get("code") != "resource_already_exists":
                sys.exit(f"seed_fake_stripe: creating the product {product}: HTTP {status} {body}")
            self_serve = kind == "plans" and not any(item.get(k) for k in ("default", "addon", "contact_sales"))
            seat_prices = (item.get("seats") or {}).get("prices", []) if kind == "plans" else []
            for price in item.get("prices", []) + seat_prices:
                control(args.base, "/__fake/prices", {
                    "id": price_id(price),
                    "lookup_key": price.get("lookup_key"),
                    "unit_amount": price.get("amount", 0),
                    "currency": price.get("currency", "usd"),
                    "recurring": {"interval": price["interval"]} if price.get("interval") else None,
                    "product": product,
                })
                seeded += 1
                if self_serve and price.get("interval") and price not in seat_prices:
                    portal_products.setdefault(product, set()).add(price_id(price))
    print(f"fake Stripe: seeded {seeded} catalog prices", file=sys.stderr)
    metered = seed_overage(args.base, args.api_key, catalog)
    if metered:
        print(f"fake Stripe: {metered} metered overage prices (with their billing meters)", file=sys.stderr)

    if not portal_products:
        # No self-serve plan to switch between: the minimal valid configuration.
        params = [("features[subscription_cancel][enabled]", "true"),
                  ("features[subscription_cancel][mode]", "at_period_end"),
                  ("features[payment_method_update][enabled]", "true"),
                  ("features[invoice_history][enabled]", "true"), ("metadata[entitle]", MARK)]
    else:
        params = portal_params(portal_products)
    status, listed = api(args.base, args.api_key, "GET", "/v1/billing_portal/configurations",
                         [("active", "true"), ("limit", "100")])
    if status != 200:
        sys.exit(f"seed_fake_stripe: listing the portal configurations: HTTP {status} {listed}")
    ours = next((c for c in listed["data"] if (c.get("metadata") or {}).get("entitle") == MARK), None)
    path = "/v1/billing_portal/configurations" + (f"/{ours['id']}" if ours else "")
    status, config = api(args.base, args.api_key, "POST", path, params)
    if status != 200:
        sys.exit(f"seed_fake_stripe: {'updating' if ours else 'creating'} the portal configuration: "
                 f"HTTP {status} {config}")
    offered = sum(len(p) for p in portal_products.values())
    print(f"fake Stripe: portal configuration {config['id']} (metadata.entitle={MARK}, switching between "
          f"{offered} prices of {len(portal_products)} plans, cancel at period end)", file=sys.stderr)
    print(config["id"])


if __name__ == "__main__":
    main()
