#!/usr/bin/env python3
"""A local fake of Clerk's Backend API, for tests only (never point production at it).

    python3 scripts/fake_clerk.py --port 0 [--latency-ms N]

Binds 127.0.0.1 (port 0 = any free port) and prints `listening on <port>` as its first stdout line. The code
under test talks to it exactly as to https://api.clerk.com (CLERK_API_BASE): JSON bodies,
`Authorization: Bearer sk_test_...`, user objects shaped like Clerk's, and Clerk's error shape
`{"errors": [{"message", "long_message", "code", "meta"}], "clerk_trace_id"}`.

Covered: GET /v1/users (`email_address`, repeatable: the users with one of those addresses, newest first),
GET /v1/users/{id}, PATCH /v1/users/{id}/metadata (deep merge of public_metadata,
private_metadata and unsafe_metadata: nested objects merge recursively, a key set to null is removed,
anything else - arrays included - replaces). Unknown users answer 404 `resource_not_found`, as Clerk does:
users exist only once created through the control API. State lives in memory behind one lock.

Control API for tests (no auth, JSON): POST /__fake/users, GET /__fake/users/{id}, POST /__fake/fail,
GET /__fake/requests, POST /__fake/reset. See `control` below.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import re
import socket
import string
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

ALPHANUMERIC = string.ascii_letters + string.digits
LOCK = threading.Lock()
LATENCY_S = 0.0
METADATA = ("public_metadata", "private_metadata", "unsafe_metadata")


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
        path, query = urlsplit(self.path).path, urlsplit(self.path).query
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

    def reply(self, status: int, text: str):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if status == 429:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    global LATENCY_S
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=int, default=0)
    args = parser.parse_args()
    LATENCY_S = args.latency_ms / 1000
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
