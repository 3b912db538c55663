"""Webhook signatures, made and checked: Stripe's `Stripe-Signature` and Svix's (Clerk's) `svix-*` headers.

The one place the HMACs are written: the local Stripe and Clerk sign their deliveries with it, as do
send_stripe.py, send_clerk.py and warm_cpu.py; the tests check deliveries with it. Standard library only.

Stripe: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, keyed with the whole secret
string (including its `whsec_` prefix).
Svix: `svix-signature: v1,<base64 HMAC-SHA256(key, "<svix-id>.<svix-timestamp>.<body>")>`, keyed with the
base64-decoded part of the secret after `whsec_`; several space-separated signatures may be sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

DEFAULT_TOLERANCE_S = 300  # how old (or how far ahead) a signed timestamp may be: Stripe's and Svix's default


def stripe_v1(secret: str, timestamp: int | str, body: bytes) -> str:
    """The hex `v1` HMAC-SHA256 of `"<timestamp>.<body>"`, keyed with the whole secret string."""
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def stripe_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `Stripe-Signature` header value: `t=<timestamp>,v1=<hex>`."""
    return f"t={timestamp},v1={stripe_v1(secret, timestamp, body)}"


def verify_stripe_signature(header: str | None, body: bytes, secret: str,
                            tolerance_s: float | None = DEFAULT_TOLERANCE_S, now: float | None = None) -> bool:
    """Whether `header` (a `Stripe-Signature` value) has a `v1` made with `secret` over `body` and a timestamp
    within `tolerance_s` of `now` (no age check when it is None)."""
    timestamp, signatures = None, []
    for part in (header or "").split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1":
            signatures.append(value)
    if timestamp is None or not timestamp.isdigit() or not signatures:
        return False
    if tolerance_s is not None and abs((time.time() if now is None else now) - int(timestamp)) > tolerance_s:
        return False
    expected = stripe_v1(secret, timestamp, body)
    return any(hmac.compare_digest(expected, signature) for signature in signatures)


def svix_key(secret: str) -> bytes:
    """The HMAC key of a Svix secret `whsec_<base64>`."""
    return base64.b64decode(secret.removeprefix("whsec_"))


def svix_signature(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The `svix-signature` header value: `v1,<base64 HMAC-SHA256 of "<msg_id>.<timestamp>.<body>">`."""
    digest = hmac.new(svix_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return f"v1,{base64.b64encode(digest).decode()}"


def svix_headers(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> dict:
    """The three headers Svix sends with a message: `svix-id`, `svix-timestamp`, `svix-signature`."""
    return {"svix-id": msg_id, "svix-timestamp": str(timestamp),
            "svix-signature": svix_signature(secret, msg_id, timestamp, body)}


def verify_svix_signature(headers, body: bytes, secret: str, tolerance_s: float | None = DEFAULT_TOLERANCE_S,
                          now: float | None = None) -> bool:
    """Whether `headers` (anything with `.get`, names lower-case as Svix sends them) carry a `v1` signature made
    with `secret` over `body` and a timestamp within `tolerance_s` of `now` (no age check when it is None)."""
    msg_id, timestamp = headers.get("svix-id"), headers.get("svix-timestamp")
    if not msg_id or not timestamp or not str(timestamp).isdigit():
        return False
    if tolerance_s is not None and abs((time.time() if now is None else now) - int(timestamp)) > tolerance_s:
        return False
    expected = svix_signature(secret, msg_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate)
               for candidate in (headers.get("svix-signature") or "").split())
