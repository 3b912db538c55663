#!/usr/bin/env python3
"""Sends a signed Clerk (Svix) webhook built from a fixture, exactly as Svix would.

    send_clerk.py --url URL --secret whsec_... --event user.created [--user user_...]

Loads fixtures/clerk/<event>.json, gives it a fresh timestamp (and the user id, when given), signs
`{msg_id}.{timestamp}.{body}` with HMAC-SHA256 keyed by the base64-decoded secret, and POSTs it with the
svix-id / svix-timestamp / svix-signature headers (standins/signing.py's). Standard library only.
"""

import argparse
import json
import secrets
import string
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from standins.signing import svix_headers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--secret", required=True, help="whsec_...")
    parser.add_argument("--event", required=True, help="fixture name, e.g. user.created")
    parser.add_argument("--user", help="override the user id in the fixture")
    parser.add_argument("--fixtures", default=str(Path(__file__).resolve().parent.parent / "fixtures" / "clerk"))
    args = parser.parse_args()

    path = Path(args.fixtures) / f"{args.event}.json"
    if not path.exists():
        names = sorted(p.stem for p in Path(args.fixtures).glob("*.json"))
        print(f"no fixture {path}; have: {', '.join(names)}", file=sys.stderr)
        return 2
    event = json.loads(path.read_text())
    now = int(time.time())
    event["timestamp"] = now * 1000
    if args.user:
        event["data"]["id"] = args.user
    body = json.dumps(event, separators=(",", ":")).encode()
    msg_id = "msg_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(27))
    request = urllib.request.Request(
        args.url,
        data=body,
        method="POST",
        headers={"content-type": "application/json", **svix_headers(args.secret, msg_id, now, body)},
    )
    print(f"POST {args.url}  {event['type']}  {msg_id}")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            print(f"HTTP {response.status}\n{response.read().decode()}")
            return 0
    except urllib.error.HTTPError as e:
        print(f"HTTP {e.code}\n{e.read().decode()}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
