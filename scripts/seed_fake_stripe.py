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
