#!/usr/bin/env python3
"""Sends a signed Stripe webhook built from a fixture, exactly as Stripe would.

    scripts/send_stripe.py --url http://127.0.0.1:9000/lambda-url/stripe-webhook/webhooks/stripe \\
        --secret whsec_... --event customer.subscription.created [--fixtures fixtures/stripe]

Loads <fixtures>/<event type>.json (a Stripe event), gives it a fresh `evt_...` id and `created` = now,
serializes it compactly and signs it: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
keyed with the whole secret string (including the `whsec_` prefix), as Stripe does. Prints the response status and
body; exits 0 on a 2xx. Standard library only (the signature is standins/signing.py's).
"""

from __future__ import annotations

import argparse
import json
import secrets
import string
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from standins.signing import stripe_signature

REPO_ROOT = Path(__file__).resolve().parent.parent
ALPHANUM = string.ascii_letters + string.digits


def fresh_event_id() -> str:
    return "evt_" + "".join(secrets.choice(ALPHANUM) for _ in range(24))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="webhook endpoint URL")
    parser.add_argument("--secret", required=True, help="signing secret, whsec_...")
    parser.add_argument("--event", required=True, help="Stripe event type = fixture file name without .json")
    parser.add_argument("--fixtures", default=str(REPO_ROOT / "fixtures" / "stripe"))
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)

    path = Path(args.fixtures) / f"{args.event}.json"
    try:
        event = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        available = sorted(p.stem for p in Path(args.fixtures).glob("*.json"))
        print(f"send_stripe: cannot read {path}: {e.strerror}", file=sys.stderr)
        if available:
            print(f"send_stripe: available events: {', '.join(available)}", file=sys.stderr)
        return 2
    except json.JSONDecodeError as e:
        print(f"send_stripe: {path} is not valid JSON: {e}", file=sys.stderr)
        return 2
    if not isinstance(event, dict):
        print(f"send_stripe: {path} is not a JSON object", file=sys.stderr)
        return 2

    now = int(time.time())
    event["id"] = fresh_event_id()
    event["created"] = now
    body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    request = urllib.request.Request(
        args.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": stripe_signature(args.secret, now, body),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        },
    )
    print(f"POST {args.url}  {event.get('type', args.event)}  {event['id']}")
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as resp:
            status, payload = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        print(f"send_stripe: request failed: {reason}", file=sys.stderr)
        return 1
    print(f"HTTP {status}")
    text = payload.decode("utf-8", "replace")
    if text:
        print(text)
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
