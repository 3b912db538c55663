#!/usr/bin/env python3
"""A local fake of Clerk's Backend API and sign-in, for tests and `make dev` only (never point production at it).

    python3 scripts/fake_clerk.py --port 0 [--latency-ms N] [--webhook-url URL --webhook-secret whsec_...]

Binds 127.0.0.1 (port 0 = any free port) and prints `listening on <port>` as its first stdout line. The code
under test talks to it exactly as to https://api.clerk.com (CLERK_API_BASE): JSON bodies,
`Authorization: Bearer sk_test_...`, user objects shaped like Clerk's, and Clerk's error shape
`{"errors": [{"message", "long_message", "code", "meta"}], "clerk_trace_id"}`.

Covered: GET /v1/users (`email_address`, repeatable: the users with one of those addresses, newest first),
GET /v1/users/{id}, PATCH /v1/users/{id}/metadata (deep merge of public_metadata,
private_metadata and unsafe_metadata: nested objects merge recursively, a key set to null is removed,
anything else - arrays included - replaces). Unknown users answer 404 `resource_not_found`, as Clerk does:
users exist only once created through the control API. State lives in memory behind one lock.

Sign-in, as a Clerk instance's Frontend API would do it for the demo app (no Clerk account needed):
  GET /.well-known/jwks.json, GET /v1/jwks   the RSA key made at start, as Clerk publishes it (kid, RS256, sig)
  GET /sign-in?redirect_url=URL             a plain form: email, first and last name
  POST /sign-in                             finds the user with that email, or creates one and sends Clerk's
                                            `user.created` webhook (Svix-signed) to --webhook-url in the
                                            background, retrying with backoff; then 303 to
                                            `URL#__session=<session token>`
A session token is shaped like Clerk's: RS256, header `kid`; claims `sub`, `iss` (this fake's base URL, the
CLERK_ISSUER to give billing-api), `azp` (the origin of the redirect URL), `sid`, `iat`, `nbf` and `exp` (24 h,
for the demo; Clerk's live 60 s and are refreshed by its SDK).

Control API for tests (no auth, JSON): POST /__fake/users, GET /__fake/users/{id}, POST /__fake/sessions,
POST /__fake/fail, GET /__fake/requests, POST /__fake/reset. See `control` below.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import html
import json
import random
import re
import socket
import string
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import urllib.error
import urllib.request
from urllib.parse import parse_qs, unquote, urlsplit

ALPHANUMERIC = string.ascii_letters + string.digits
LOCK = threading.Lock()
LATENCY_S = 0.0
METADATA = ("public_metadata", "private_metadata", "unsafe_metadata")
SESSION_TTL_S = 24 * 3600
BASE_URL = ""  # http://127.0.0.1:<port>, set in main(): the session tokens' `iss`
WEBHOOK = {"url": None, "secret": None}  # where `user.created` goes (--webhook-url, --webhook-secret)
INSTANCE_ID = "ins_" + "".join(random.choices(ALPHANUMERIC, k=27))


def new_id(prefix: str, length: int = 27) -> str:
    return prefix + "".join(random.choices(ALPHANUMERIC, k=length))


def now_ms() -> int:
    return int(time.time() * 1000)


class ClerkError(Exception):
    """An error answered in Clerk's shape."""

    def __init__(self, status: int, code: str, message: str, long_message: str, meta=None):
        super().__init__(long_message)
        self.status = status
        self.error = {"message": message, "long_message": long_message, "code": code}
        if meta:
            self.error["meta"] = meta

    def body(self) -> str:
        return json.dumps({"errors": [self.error], "clerk_trace_id": new_id("", 32).lower()})


def not_found() -> ClerkError:
    return ClerkError(404, "resource_not_found", "not found", "Resource not found")


def invalid_param(name: str, long_message: str) -> ClerkError:
    return ClerkError(422, "form_param_format_invalid", "is invalid", long_message, {"param_name": name})


def injected_error(status: int) -> ClerkError:
    if status == 429:
        return ClerkError(429, "too_many_requests", "Too Many Requests",
                          "Too many requests, please try again later (injected by the fake).")
    if status >= 500:
        return ClerkError(status, "internal_clerk_error", "Oops, an unexpected error occurred",
                          "There was an internal error on our servers (injected by the fake).")
    return ClerkError(status, "request_failed", f"injected {status}", f"Injected failure with status {status}.")


def deep_merge(target: dict, patch: dict) -> dict:
    """Clerk's metadata merge (RFC 7396's rules): objects merge key by key, null deletes, the rest replaces."""
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict):
            current = merged.get(key)
            merged[key] = deep_merge(current if isinstance(current, dict) else {}, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# ---------------------------------------------------------------- state

class State:
    def __init__(self):
        self.users: dict = {}
        self.sessions: dict = {}
        self.failures: list = []
        self.requests: list = []

    def take_failure(self, method: str, path: str):
        for rule in self.failures:
            if rule["count"] > 0 and path.startswith(rule["path_prefix"]) and rule["method"] in (None, method):
                rule["count"] -= 1
                return injected_error(rule["status"])
        return None

    def user(self, id_: str) -> dict:
        if id_ not in self.users:
            raise not_found()
        return self.users[id_]


STATE = State()


def user_object(data: dict) -> dict:
    """A user in Clerk's shape, with what the control API was given; the rest as for a fresh sign-up."""
    created = now_ms()
    email = data.get("email")
    email_id = new_id("idn_") if email else None
    return {
        "id": data.get("id") or new_id("user_"), "object": "user", "username": data.get("username"),
        "first_name": data.get("first_name"), "last_name": data.get("last_name"),
        "image_url": "https://img.clerk.com/fake", "has_image": False,
        "primary_email_address_id": email_id, "primary_phone_number_id": None, "primary_web3_wallet_id": None,
        "password_enabled": False, "two_factor_enabled": False, "totp_enabled": False,
        "backup_code_enabled": False,
        "email_addresses": [{"id": email_id, "object": "email_address", "email_address": email,
                             "verification": {"status": "verified", "strategy": "email_code"},
                             "linked_to": []}] if email else [],
        "phone_numbers": [], "web3_wallets": [], "external_accounts": [],
        "public_metadata": data.get("public_metadata") or {},
        "private_metadata": data.get("private_metadata") or {},
        "unsafe_metadata": data.get("unsafe_metadata") or {},
        "external_id": data.get("external_id"), "last_sign_in_at": None, "banned": False, "locked": False,
        "created_at": created, "updated_at": created, "last_active_at": None,
    }


# ---------------------------------------------------------------- endpoints

def get_user(body, id_):
    return STATE.user(id_)


def update_user_metadata(body, id_):
    user = STATE.user(id_)
    if not isinstance(body, dict):
        raise ClerkError(400, "malformed_request", "malformed request", "The request body is not a JSON object.")
    for name in METADATA:
        if name in body and body[name] is not None and not isinstance(body[name], dict):
            raise invalid_param(name, f"{name} must be a valid JSON object")
    for name in METADATA:
        if isinstance(body.get(name), dict):
            user[name] = deep_merge(user[name], body[name])
    user["updated_at"] = now_ms()
    return user


def list_users(query):
    wanted = {e.lower() for e in query.get("email_address", [])}
    users = [u for u in STATE.users.values()
             if not wanted or any((a["email_address"] or "").lower() in wanted for a in u["email_addresses"])]
    return sorted(users, key=lambda u: u["created_at"], reverse=True)


ROUTES = [(method, re.compile(pattern), handler) for method, pattern, handler in [
    ("GET", r"/v1/users", list_users),
    ("GET", r"/v1/users/([^/]+)", get_user),
    ("PATCH", r"/v1/users/([^/]+)/metadata", update_user_metadata),
]]


def authenticate(header) -> None:
    scheme, _, credential = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not credential.startswith("sk_test_"):
        raise ClerkError(401, "authentication_invalid", "Invalid authentication",
                         "Unable to authenticate the request, you need to supply an active API key")


def find_route(method: str, path: str):
    for route_method, pattern, handler in ROUTES:
        match = pattern.fullmatch(path)
        if match and route_method == method:
            return lambda body: handler(body, *(unquote(group) for group in match.groups()))
    raise not_found()


def api(method: str, path: str, raw: str, headers, query: str = ""):
    """Answers one /v1 request: (status, body text)."""
    try:
        authenticate(headers.get("Authorization"))
        endpoint = find_route(method, path)
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise ClerkError(400, "malformed_request", "malformed request", "The request body is not valid JSON.")
        if method == "GET":  # a GET's parameters are its query string
            body = parse_qs(query)
    except ClerkError as e:
        return e.status, e.body()
    if LATENCY_S:
        time.sleep(LATENCY_S)
    with LOCK:
        failure = STATE.take_failure(method, path)
        if failure:
            return failure.status, failure.body()
        try:
            return 200, json.dumps(endpoint(body))
        except ClerkError as e:
            return e.status, e.body()
        except Exception as e:  # a bug in the fake: answer like Clerk's 500
            return 500, injected_error(500).body().replace("(injected by the fake)", repr(e))


# ---------------------------------------------------------------- control API

def control(method: str, path: str, data: dict):
    """(status, JSON-able body). Runs under LOCK.

    POST /__fake/users {"id"?, "email"?, "first_name"?, "last_name"?, "public_metadata"?, ...}: creates a user
        (409 if the id exists) and returns it.
    GET /__fake/users/{id}: the stored user, metadata included; 404 if unknown.
    POST /__fake/sessions {"userId", "azp"?, "ttlSeconds"?}: a session of a known user (404 if unknown) and
        its session token, as sign-in makes them: {"token", "sessionId", "userId", "expiresAt"}.
    POST /__fake/fail {"count": 2, "status": 503, "path_prefix": "/v1/users", "method"?: "PATCH"}: the next
        `count` matching /v1 requests (after authentication) answer `status` in Clerk's error shape and change
        nothing.
    GET /__fake/requests: every /v1 request so far: {"method", "path", "body" (JSON, or the raw text if it is
        not JSON, or null), "status", "authorization", "contentType", "userAgent"}.
    POST /__fake/reset: forgets everything.
    """
    global STATE
    if (method, path) == ("POST", "/__fake/users"):
        user = user_object(data)
        if user["id"] in STATE.users:
            return 409, {"error": {"message": f"user {user['id']} exists"}}
        STATE.users[user["id"]] = user
        return 200, user
    if method == "GET" and path.startswith("/__fake/users/"):
        user = STATE.users.get(unquote(path[len("/__fake/users/"):]))
        return (200, user) if user else (404, {"error": {"message": "no such user"}})
    if (method, path) == ("POST", "/__fake/sessions"):
        user_id = data.get("userId")
        if user_id not in STATE.users:
            return 404, {"error": {"message": f"no such user {user_id!r}"}}
        ttl = int(data.get("ttlSeconds") or SESSION_TTL_S)
        token, sid, exp = new_session(user_id, data.get("azp"), ttl)
        return 200, {"token": token, "sessionId": sid, "userId": user_id, "expiresAt": exp}
    if (method, path) == ("POST", "/__fake/fail"):
        STATE.failures.append({"count": int(data.get("count", 1)), "status": int(data.get("status", 500)),
                               "path_prefix": data.get("path_prefix", "/v1"),
                               "method": data["method"].upper() if data.get("method") else None})
        return 200, {"ok": True}
    if (method, path) == ("GET", "/__fake/requests"):
        return 200, STATE.requests
    if (method, path) == ("POST", "/__fake/reset"):
        STATE = State()
        return 200, {"ok": True}
    return 404, {"error": {"message": f"no control endpoint {method} {path}"}}


# ---------------------------------------------------------------- sign-in: keys, session tokens, webhooks

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_bytes(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


class SigningKey:
    """The instance's RSA key, made at start (as Clerk makes one per instance) and published as a JWKS."""

    def __init__(self):
        from cryptography.hazmat.primitives.asymmetric import rsa  # only sign-in needs it; the API does not

        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.private.public_key().public_numbers()
        self.n, self.e = b64url(int_bytes(numbers.n)), b64url(int_bytes(numbers.e))
        self.kid = "ins_" + hashlib.sha256(f"{self.n}.{self.e}".encode()).hexdigest()[:24]

    def jwks(self) -> dict:
        return {"keys": [{"use": "sig", "kty": "RSA", "kid": self.kid, "alg": "RS256", "n": self.n, "e": self.e}]}

    def sign(self, claims: dict) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        compact = lambda value: b64url(json.dumps(value, separators=(",", ":")).encode())
        signing_input = f"{compact(header)}.{compact(claims)}"
        signature = self.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"


KEY: SigningKey | None = None
KEY_LOCK = threading.Lock()


def signing_key() -> SigningKey:
    """The key, made on first use; main() starts making it at once, in the background, so that the API the
    tests use answers without waiting for RSA key generation."""
    global KEY
    with KEY_LOCK:
        if KEY is None:
            KEY = SigningKey()
        return KEY


def new_session(user_id: str, azp, ttl: int = SESSION_TTL_S):
    """(token, session id, exp) for a new session of `user_id`. Runs under LOCK."""
    now = int(time.time())
    sid = new_id("sess_")
    claims = {"sub": user_id, "iss": BASE_URL, "sid": sid, "iat": now, "nbf": now, "exp": now + ttl}
    if azp:
        claims["azp"] = azp
    STATE.sessions[sid] = {"id": sid, "object": "session", "user_id": user_id, "status": "active",
                           "created_at": now * 1000, "expire_at": (now + ttl) * 1000}
    return signing_key().sign(claims), sid, now + ttl


def origin_of(url: str):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def deliver_webhook(event: dict) -> None:
    """Sends one event as Svix does: signed `{id}.{timestamp}.{body}`, retried with backoff on a non-2xx or a
    connection error (the same svix-id each time, so the receiver de-duplicates; a fresh timestamp and
    signature each attempt). Runs in its own thread; each attempt is logged on stderr."""
    url, secret = WEBHOOK["url"], WEBHOOK["secret"]
    if not url or not secret:
        print(f"fake Clerk: no --webhook-url/--webhook-secret, {event['type']} not sent", file=sys.stderr, flush=True)
        return
    body = json.dumps(event, separators=(",", ":")).encode()
    msg_id = new_id("msg_")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    delay = 1.0
    for attempt in range(1, 16):
        timestamp = str(int(time.time()))
        signature = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body,
                                              hashlib.sha256).digest()).decode()
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "content-type": "application/json", "user-agent": "Svix-Webhooks/1.0 (fake Clerk)",
            "svix-id": msg_id, "svix-timestamp": timestamp, "svix-signature": f"v1,{signature}"})
        try:
            # Long timeout: `cargo lambda watch` compiles the function on its first request.
            with urllib.request.urlopen(request, timeout=900) as response:
                outcome, ok = f"HTTP {response.status} {response.read(300).decode(errors='replace')}", True
        except urllib.error.HTTPError as e:
            outcome, ok = f"HTTP {e.code} {e.read(300).decode(errors='replace')}", False
        except (OSError, ValueError) as e:
            outcome, ok = f"failed: {e}", False
        print(f"fake Clerk: webhook {event['type']} {msg_id} attempt {attempt} -> {outcome}", file=sys.stderr,
              flush=True)
        if ok:
            return
        time.sleep(delay)
        delay = min(delay * 2, 30.0)
    print(f"fake Clerk: webhook {event['type']} {msg_id} given up", file=sys.stderr, flush=True)


def send_event(type_: str, data: dict, headers) -> None:
    event = {"data": copy.deepcopy(data), "event_attributes": {"http_request": {
                 "client_ip": "127.0.0.1", "user_agent": headers.get("User-Agent") or ""}},
             "instance_id": INSTANCE_ID, "object": "event", "timestamp": now_ms(), "type": type_}
    threading.Thread(target=deliver_webhook, args=(event,), daemon=True).start()


SIGN_IN_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Sign in - local Clerk</title>
<style>
  body {{ font: 16px/1.5 system-ui, sans-serif; background: #f4f4f6; margin: 0; }}
  main {{ max-width: 22rem; margin: 4rem auto; background: #fff; padding: 2rem; border-radius: 12px;
         box-shadow: 0 1px 4px rgba(0,0,0,.12); }}
  h1 {{ font-size: 1.3rem; margin: 0 0 .25rem; }}
  p {{ color: #666; margin: 0 0 1.5rem; font-size: .9rem; }}
  label {{ display: block; font-size: .85rem; margin: .75rem 0 .25rem; }}
  input {{ width: 100%; box-sizing: border-box; padding: .5rem; font: inherit; border: 1px solid #ccc;
          border-radius: 6px; }}
  button {{ width: 100%; margin-top: 1.5rem; padding: .6rem; font: inherit; background: #6c47ff; color: #fff;
           border: 0; border-radius: 6px; cursor: pointer; }}
  .error {{ color: #b00020; }}
</style>
</head>
<body>
<main>
  <h1>Sign in</h1>
  <p>Local stand-in for Clerk: a new email creates the account (and sends <code>user.created</code>).</p>
  {error}
  <form method="post" action="/sign-in">
    <input type="hidden" name="redirect_url" value="{redirect_url}">
    <label for="email">Email address</label>
    <input id="email" name="email" type="email" required autocomplete="email" value="{email}">
    <label for="first-name">First name</label>
    <input id="first-name" name="first_name" autocomplete="given-name" value="{first_name}">
    <label for="last-name">Last name</label>
    <input id="last-name" name="last_name" autocomplete="family-name" value="{last_name}">
    <button id="sign-in" type="submit">Continue</button>
  </form>
</main>
</body>
</html>
"""


def sign_in_page(redirect_url: str, error: str = "", **values) -> str:
    fields = {name: html.escape(values.get(name) or "") for name in ("email", "first_name", "last_name")}
    return SIGN_IN_PAGE.format(redirect_url=html.escape(redirect_url),
                               error=f'<p class="error" id="error">{html.escape(error)}</p>' if error else "",
                               **fields)


def sign_in(form: dict, headers):
    """POST /sign-in: (status, headers, HTML body)."""
    redirect_url = form.get("redirect_url", "")
    email = form.get("email", "").strip().lower()
    values = {"email": email, "first_name": form.get("first_name", "").strip(),
              "last_name": form.get("last_name", "").strip()}
    origin = origin_of(redirect_url)
    if not origin:
        return 400, {}, sign_in_page(redirect_url, "redirect_url must be an http(s) URL", **values)
    if "@" not in email:
        return 400, {}, sign_in_page(redirect_url, "Enter an email address", **values)
    with LOCK:
        user = next((u for u in STATE.users.values()
                     if any(e["email_address"] == email for e in u["email_addresses"])), None)
        created = user is None
        if created:
            user = user_object({"email": email, "first_name": values["first_name"] or None,
                                "last_name": values["last_name"] or None})
            STATE.users[user["id"]] = user
        user["last_sign_in_at"] = user["last_active_at"] = now_ms()
        token, sid, _ = new_session(user["id"], origin)
        snapshot = copy.deepcopy(user)
    print(f"fake Clerk: {'signed up' if created else 'signed in'} {snapshot['id']} <{email}> (session {sid})",
          file=sys.stderr, flush=True)
    if created:
        send_event("user.created", snapshot, headers)
    location = redirect_url.split("#", 1)[0] + "#__session=" + token
    return 303, {"Location": location}, ""


# ---------------------------------------------------------------- HTTP

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-clerk"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def do_GET(self):
        method, length = self.command, int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        url = urlsplit(self.path)
        path, query = url.path, url.query
        if method == "GET" and path in ("/.well-known/jwks.json", "/v1/jwks"):
            return self.reply(200, json.dumps(signing_key().jwks()))
        if path == "/sign-in" and method in ("GET", "POST"):
            if method == "GET":
                redirect_url = (parse_qs(url.query).get("redirect_url") or [""])[0]
                status, headers, page = 200, {}, sign_in_page(redirect_url)
            else:
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                status, headers, page = sign_in(form, self.headers)
            return self.reply(status, page, "text/html; charset=utf-8", headers)
        if path.startswith("/__fake/"):
            try:
                data = json.loads(raw) if raw.strip() else {}
                with LOCK:
                    status, body = control(method, path, data)
                    text = json.dumps(body)
            except (ValueError, TypeError, AttributeError, KeyError) as e:
                status, text = 400, json.dumps({"error": {"message": f"bad control request: {e!r}"}})
            return self.reply(status, text)
        try:
            logged_body = json.loads(raw) if raw.strip() else None
        except ValueError:
            logged_body = raw
        record = {"method": method, "path": path, "body": logged_body, "status": None,
                  "authorization": self.headers.get("Authorization"),
                  "contentType": self.headers.get("Content-Type"), "userAgent": self.headers.get("User-Agent")}
        with LOCK:
            STATE.requests.append(record)
        status, text = api(method, path, raw, self.headers, query)
        with LOCK:
            record["status"] = status
        self.reply(status, text)

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def reply(self, status: int, text: str, content_type: str = "application/json", headers=None):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status == 429:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    global LATENCY_S, BASE_URL
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--webhook-url", help="where sign-ups send Clerk's user.created (the clerk-webhook)")
    parser.add_argument("--webhook-secret", help="its Svix signing secret, whsec_...")
    args = parser.parse_args()
    LATENCY_S = args.latency_ms / 1000
    WEBHOOK.update(url=args.webhook_url, secret=args.webhook_secret)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    BASE_URL = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=signing_key, daemon=True).start()
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
