#!/usr/bin/env python3
"""The demo app of `make dev`: serves web/ and the product's own backend, the server-side half integrators copy.

    demo_server.py --port 3000 --billing-api URL --usage-api URL --usage-key KEY \\
        --clerk-jwks-url URL --clerk-issuer URL --clerk-sign-in-url URL [--stripe-clock URL]

Every flag can also be given by its environment variable (DEMO_PORT, BILLING_API_URL, USAGE_API_URL,
USAGE_API_KEY, CLERK_JWKS_URL, CLERK_ISSUER, CLERK_SIGN_IN_URL, CLERK_FRONTEND_API, STRIPE_CLOCK_URL, APP_ORIGIN,
PLAN_CATALOG). Binds 127.0.0.1
and prints `listening on <port>` as its first stdout line. Standard library + `cryptography`.

Routes:
  GET  /, /dist/app.js, /style.css  the static files of web/ (dist/: the bundle scripts/build-web.sh makes)
  GET  /config.js                   `window.ENTITLE_CONFIG = {...}`: the billing-api URL, the Clerk sign-in URL,
  GET  /api/config                  whether the local Stripe's clock exists (the same as JSON)
  POST /api/send-message            spends 1 of the `messages_per_day` limit (metered, resets daily)
  POST /api/generate                spends --generate-cost credits (the `credits` balance)
                                    both for the session's active organization when the token has one (its
                                    pool, `memberId` = the user, so a per-member cap applies), else the user
  POST /api/clock/advance {"days"}  the local Stripe's test clock (`POST /__fake/clock/advance`); 404 when the
                                    real Stripe is used

The pattern of the two /api routes, which is what a product's server does:
  1. verify the caller's Clerk session token (Authorization: Bearer): RS256 against Clerk's JWKS, `iss`,
     `exp`/`nbf`, `azp` = the app's origin. The user id is the token's `sub`, never something the browser says.
  2. ask usage-api to record the spend (`POST /v1/usage` with the server's own API key, which never reaches the
     browser, and an idempotency key so that a retried request never counts twice) for the subject the token
     names: its active organization (Clerk's v2 `o.id`, or v1 `org_id`) with `memberId` = `sub`, else `sub`.
  3. do the work only when usage-api says `allowed: true`; otherwise answer a 4xx the page can show
     (429 at a limit, 402 out of credits, 403 not in the plan) with usage-api's numbers.
"""
from __future__ import annotations

import argparse
import base64
import json
import mimetypes
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ROOT = Path(__file__).resolve().parent.parent
LEEWAY_S = 5
ARGS = argparse.Namespace()


class Refused(Exception):
    """An answer other than 200: (status, code, message[, extra fields])."""

    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}, **self.extra}


# ---------------------------------------------------------------- session tokens (Clerk, RS256)

def b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class Jwks:
    """Clerk's public keys by kid: fetched on first use, cached, refetched on an unknown kid at most every 30 s
    (Clerk rotates keys rarely; a token signed by a new key names a kid we do not have yet)."""

    def __init__(self, url: str):
        self.url, self.keys, self.fetched_at, self.lock = url, {}, 0.0, threading.Lock()

    def key(self, kid: str):
        with self.lock:
            if kid not in self.keys and time.monotonic() - self.fetched_at > 30:
                self.fetched_at = time.monotonic()
                try:
                    with urllib.request.urlopen(self.url, timeout=5) as response:
                        keys = json.load(response)["keys"]
                except (OSError, ValueError, KeyError) as e:
                    self.fetched_at = 0.0
                    raise Refused(503, "unavailable", f"cannot fetch Clerk's JWKS: {e}") from e
                self.keys = {
                    k["kid"]: rsa.RSAPublicNumbers(int.from_bytes(b64decode(k["e"]), "big"),
                                                   int.from_bytes(b64decode(k["n"]), "big")).public_key()
                    for k in keys if k.get("kty") == "RSA" and k.get("use", "sig") == "sig"}
            return self.keys.get(kid)


JWKS: Jwks | None = None


def unauthorized(reason: str) -> Refused:
    # The reason goes to our log, not to the caller (as billing-api does).
    print(f"demo: session token refused: {reason}", file=sys.stderr, flush=True)
    return Refused(401, "unauthorized", "sign in again: the session token is missing or not valid")


def verify_session(authorization: str | None) -> dict:
    """The claims of a valid Clerk session token, or Refused(401)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or token.count(".") != 2:
        raise unauthorized("no bearer token")
    head, body, signature = token.strip().split(".")
    try:
        header, claims = json.loads(b64decode(head)), json.loads(b64decode(body))
        signature_bytes = b64decode(signature)
    except ValueError:
        raise unauthorized("not a JWT") from None
    if header.get("alg") != "RS256" or header.get("typ", "JWT").upper() != "JWT" or "crit" in header:
        raise unauthorized(f"header {header}")
    key = JWKS.key(str(header.get("kid")))
    if key is None:
        raise unauthorized(f"unknown kid {header.get('kid')}")
    try:
        key.verify(signature_bytes, f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        raise unauthorized("bad signature") from None
    now = time.time()
    if claims.get("iss") != ARGS.clerk_issuer:
        raise unauthorized(f"iss {claims.get('iss')!r}")
    if not isinstance(claims.get("exp"), (int, float)) or now >= claims["exp"] + LEEWAY_S:
        raise unauthorized("expired")
    if any(isinstance(claims.get(c), (int, float)) and claims[c] > now + LEEWAY_S for c in ("nbf", "iat")):
        raise unauthorized("not yet valid")
    if claims.get("azp") != ARGS.app_origin:  # Clerk sets azp to the page's origin: a token made for another app
        raise unauthorized(f"azp {claims.get('azp')!r}")
    if not str(claims.get("sub", "")).startswith("user_"):
        raise unauthorized("no sub")
    return claims


# ---------------------------------------------------------------- usage-api (server to server)

def call(url: str, body: dict | None, headers: dict | None = None, timeout: float = 900):
    """(status, JSON body) of a POST (or a GET without body); a connection failure is a 503."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                     headers={"content-type": "application/json", **(headers or {})})
    try:
        # Long timeout: `cargo lambda watch` compiles a function on its first request.
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"error": {"code": "upstream_error", "message": raw.decode(errors="replace")[:300]}}
    except OSError as e:
        raise Refused(503, "unavailable", f"cannot reach {urlsplit(url).netloc}: {e}") from e


def subject_of(claims: dict) -> dict:
    """Whom a spend is for: the token's active organization (v2 `o.id`, v1 `org_id`) with the user as the member
    (the pool is the organization's, a per-member cap the user's), else the user. Never the request body's say."""
    org = (claims.get("o") or {}).get("id") if isinstance(claims.get("o"), dict) else None
    org = org or claims.get("org_id")
    if isinstance(org, str) and org.startswith("org_"):
        return {"subject": org, "memberId": claims["sub"]}
    return {"userId": claims["sub"]}


# What the page shows when usage-api refuses, by its `reason`, and the status the demo backend answers.
REFUSALS = {
    # A member's own cap inside the organization's pool: `member` carries the member's numbers, the answer's
    # own `remaining` the pool's.
    "member_limit_exceeded": (429, "Refused: you reached your {memberLimit} {memberWhat}; your team still has "
                                   "{remaining} (resets {resetsAt})."),
    "limit_exceeded": (429, "Refused: you reached your plan's limit of {limit} {what} (resets {resetsAt})."),
    "insufficient_credits": (402, "Refused: not enough credits ({remaining} left, {amount} needed). "
                                  "Buy a credit pack."),
    "not_in_plan": (403, "Refused: {what} is not in your plan."),
}


def number(value) -> str:
    """1234 -> "1,234"; anything else as it is."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def when(value) -> str:
    """usage-api's RFC 3339 time ("2026-12-08T00:00:00Z") as "2026-12-08 00:00 UTC"; anything else as it is."""
    try:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return str(value)


def spend(claims: dict, request: dict, feature: str, amount: int, what: str):
    """Records `amount` of `feature` for the signed-in user through usage-api; (status, body) for the page."""
    # The browser may send an idempotency key (a retried click must not count twice); else each call is new.
    key = str(request.get("idempotencyKey") or uuid.uuid4())
    status, answer = call(f"{ARGS.usage_api}/v1/usage",
                          {**subject_of(claims), "feature": feature, "amount": amount, "idempotencyKey": key},
                          {"authorization": f"Bearer {ARGS.usage_key}"})
    if status != 200:
        # usage-api's own 4xx (bad input, unknown feature, 409 idempotency conflict) or 5xx: passed through.
        return status, answer
    if not answer.get("allowed"):
        reason = answer.get("reason") or "limit_exceeded"
        code, template = REFUSALS.get(reason, (403, "Refused: {reason}."))
        member = answer.get("member") if isinstance(answer.get("member"), dict) else {}
        fields = {"limit": "?", "remaining": "?", "resetsAt": "later", **answer, "amount": amount, "what": what,
                  "reason": reason, "memberLimit": member.get("limit", "?"),
                  "memberWhat": "messages today" if feature == "messages_per_day" else what}
        fields["remaining"] = number(fields["remaining"])
        fields["resetsAt"] = when(fields["resetsAt"])
        return code, {"error": {"code": reason, "message": template.format(**fields)}, "usage": answer}
    # Allowed: here the product does the work it just paid for.
    done = {"messages_per_day": "Message sent.", "credits": f"Generated (spent {amount} credits)."}[feature]
    member = answer.get("member") if isinstance(answer.get("member"), dict) else None
    left = f"{number(answer.get('remaining'))} left"
    if member and "subject" in subject_of(claims):
        left = f"{left} for the team, {number(member.get('remaining'))} of your {number(member.get('limit'))}"
    return 200, {"message": f"{done} {left}.", "usage": answer}


# ---------------------------------------------------------------- HTTP

def page_config() -> dict:
    return {"billingApi": ARGS.billing_api, "signInUrl": ARGS.clerk_sign_in_url, "clock": bool(ARGS.stripe_clock),
            "appOrigin": ARGS.app_origin, "generateCost": ARGS.generate_cost,
            "clerkFrontendApi": ARGS.clerk_frontend_api, "seatPlans": SEAT_PLANS}


# The product knows its own catalog: each seat plan's included seats and seat prices (config/plans.toml's
# `[plans.seats]`; billing-api's GET /plans does not list them), for the page's "members: N, 3 included".
SEAT_PLANS: dict = {}


def seat_plans(path: str) -> dict:
    import tomllib

    try:
        catalog = tomllib.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        print(f"demo: cannot read the catalog {path}: {e}", file=sys.stderr, flush=True)
        return {}
    return {plan["id"]: {"included": plan["seats"].get("included", 0),
                         "prices": [{k: p.get(k) for k in ("lookup_key", "amount", "currency", "interval")}
                                    for p in plan["seats"].get("prices", [])]}
            for plan in catalog.get("plans", []) if isinstance(plan.get("seats"), dict)}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "entitle-demo"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        if self.path.startswith("/api/"):
            print(f"demo: {self.command} {self.path} {args[1] if len(args) > 1 else ''}", file=sys.stderr, flush=True)

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/config.js":
            return self.send(200, f"window.ENTITLE_CONFIG = {json.dumps(page_config(), indent=2)};\n",
                             "text/javascript; charset=utf-8")
        if path == "/api/config":
            return self.json(200, page_config())
        if path.startswith("/api/"):
            return self.json(404, {"error": {"code": "not_found", "message": f"no route GET {path}"}})
        return self.static(path)

    def do_POST(self):
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            try:
                body = json.loads(raw) if raw.strip() else {}
                if not isinstance(body, dict):
                    raise ValueError
            except ValueError:
                raise Refused(400, "malformed_body", "the body must be a JSON object") from None
            if path == "/api/send-message":
                claims = verify_session(self.headers.get("Authorization"))
                return self.json(*spend(claims, body, "messages_per_day", 1, "messages a day"))
            if path == "/api/generate":
                claims = verify_session(self.headers.get("Authorization"))
                return self.json(*spend(claims, body, "credits", ARGS.generate_cost, "credits"))
            if path == "/api/clock/advance":
                if not ARGS.stripe_clock:
                    raise Refused(404, "not_found", "no test clock: the real Stripe is used (use its test clocks)")
                verify_session(self.headers.get("Authorization"))
                days = body.get("days", 31)
                if not isinstance(days, (int, float)) or not 0 < days <= 400:
                    raise Refused(400, "invalid_days", "days must be a number between 0 and 400")
                return self.json(*call(ARGS.stripe_clock, {"days": days}))
            raise Refused(404, "not_found", f"no route POST {path}")
        except Refused as e:
            return self.json(e.status, e.body())

    def static(self, path: str):
        web = Path(ARGS.web).resolve()
        target = (web / path.lstrip("/")).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(web) or not target.is_file():
            return self.send(404, "not found\n", "text/plain; charset=utf-8")
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        return self.send(200, target.read_bytes(), kind)

    def json(self, status: int, body):
        return self.send(status, json.dumps(body), "application/json")

    def send(self, status: int, body, content_type: str):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(data)


def main() -> int:
    global ARGS, JWKS
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(env("DEMO_PORT", "3000")))
    parser.add_argument("--web", default=str(ROOT / "web"), help="the static files (default: web/)")
    parser.add_argument("--app-origin", default=env("APP_ORIGIN", "http://localhost:3000"),
                        help="the page's origin: the `azp` the session tokens must carry")
    parser.add_argument("--billing-api", default=env("BILLING_API_URL"), help="billing-api's base URL (for the page)")
    parser.add_argument("--usage-api", default=env("USAGE_API_URL"), help="usage-api's base URL (server side)")
    parser.add_argument("--usage-key", default=env("USAGE_API_KEY"), help="usage-api's server API key")
    parser.add_argument("--clerk-jwks-url", default=env("CLERK_JWKS_URL"))
    parser.add_argument("--clerk-issuer", default=env("CLERK_ISSUER"))
    parser.add_argument("--clerk-sign-in-url", default=env("CLERK_SIGN_IN_URL"), help="where the page signs in")
    parser.add_argument("--clerk-frontend-api", default=env("CLERK_FRONTEND_API"),
                        help="the local Clerk's base URL, for the page's organization switcher (its Frontend-like "
                             "routes); unset with the real Clerk (use ClerkJS)")
    parser.add_argument("--catalog", default=env("PLAN_CATALOG", str(ROOT / "config" / "plans.toml")),
                        help="the plan catalog, for the seat plans' included seats (default config/plans.toml)")
    parser.add_argument("--stripe-clock", default=env("STRIPE_CLOCK_URL"),
                        help="the local Stripe's POST /__fake/clock/advance URL; unset with the real Stripe")
    parser.add_argument("--generate-cost", type=int, default=int(env("GENERATE_COST", "100")),
                        help="credits one /api/generate spends (default 100)")
    ARGS = parser.parse_args()
    missing = [name for name in ("billing_api", "usage_api", "usage_key", "clerk_jwks_url", "clerk_issuer",
                                 "clerk_sign_in_url") if not getattr(ARGS, name)]
    if missing:
        parser.error("missing: " + ", ".join("--" + name.replace("_", "-") for name in missing))
    ARGS.billing_api, ARGS.usage_api = ARGS.billing_api.rstrip("/"), ARGS.usage_api.rstrip("/")
    ARGS.app_origin = ARGS.app_origin.rstrip("/")
    if not (Path(ARGS.web) / "dist" / "app.js").is_file():
        parser.error(f"{ARGS.web}/dist/app.js is missing: build the page first (scripts/build-web.sh)")
    JWKS = Jwks(ARGS.clerk_jwks_url)
    SEAT_PLANS.update(seat_plans(ARGS.catalog))
    server = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
