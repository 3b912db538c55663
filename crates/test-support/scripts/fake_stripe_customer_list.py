#!/usr/bin/env python3
"""scripts/fake_stripe.py with Stripe's customer list, GET /v1/customers (`email`, `limit`, `starting_after`,
`ending_before`; newest first; deleted customers left out), which that fake does not serve yet. Started by
`FakeStripe::start_listing_customers` for `entitle customers import`'s tests; remove it once
scripts/fake_stripe.py lists customers itself (then this only forwards to it).
"""
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
import fake_stripe as fake  # noqa: E402


def list_customers(p):
    email = p.get("email")
    customers = [c for id_, c in reversed(list(fake.STATE.customers.items())) if id_ not in fake.STATE.deleted]
    return fake.page("/v1/customers", customers, p, "customer", lambda c: email is None or c["email"] == email)


if not any(method == "GET" and pattern.pattern == r"/v1/customers" for method, pattern, _ in fake.ROUTES):
    fake.ROUTES.append(("GET", re.compile(r"/v1/customers"), list_customers))

if __name__ == "__main__":
    sys.exit(fake.main())
