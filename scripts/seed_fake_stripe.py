#!/usr/bin/env python3
"""Seeds the local Stripe stand-in (scripts/fake_stripe.py) with every price of the plan catalog, so a local
checkout finds them. Standard library only (tomllib: Python 3.11+).

    seed_fake_stripe.py --base http://127.0.0.1:PORT [--catalog config/plans.toml]
"""
import argparse
import json
import tomllib
import urllib.request
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--catalog", default=str(Path(__file__).resolve().parent.parent / "config" / "plans.toml"))
    args = parser.parse_args()
    catalog = tomllib.loads(Path(args.catalog).read_text())
    seeded = 0
    for kind in ("plans", "credit_packs"):
        for item in catalog.get(kind, []):
            for price in item.get("prices", []):
                reference = price.get("id") or price["lookup_key"]
                body = {
                    "id": price.get("id") or f"price_local_{reference}",
                    "lookup_key": price.get("lookup_key"),
                    "unit_amount": price.get("amount", 0),
                    "currency": price.get("currency", "usd"),
                    "recurring": {"interval": price["interval"]} if price.get("interval") else None,
                    "product": f"prod_local_{item['id']}",
                }
                request = urllib.request.Request(
                    f"{args.base}/__fake/prices",
                    data=json.dumps(body).encode(),
                    method="POST",
                    headers={"content-type": "application/json"},
                )
                urllib.request.urlopen(request, timeout=5).read()
                seeded += 1
    print(f"fake Stripe: seeded {seeded} catalog prices")


if __name__ == "__main__":
    main()
