"""Clerk's Backend API: GET /v1/users (`email_address`), GET /v1/users/{id}, PATCH /v1/users/{id}/metadata (deep
merge); authentication, injected failures, --latency-ms, Clerk's error shape."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, unquote

from ..http import match_route, routes
from . import settings
from .state import LOCK, METADATA, STATE, ClerkError, deep_merge, injected_error, invalid_param, not_found, now_ms


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


ROUTES = routes([
    ("GET", r"/v1/users", list_users),
    ("GET", r"/v1/users/([^/]+)", get_user),
    ("PATCH", r"/v1/users/([^/]+)/metadata", update_user_metadata),
])


def authenticate(header) -> None:
    scheme, _, credential = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not credential.startswith("sk_test_"):
        raise ClerkError(401, "authentication_invalid", "Invalid authentication",
                         "Unable to authenticate the request, you need to supply an active API key")


def find_route(method: str, path: str):
    route = match_route(ROUTES, method, path)
    if route:
        handler, groups = route
        return lambda body: handler(body, *(unquote(group) for group in groups))
    raise not_found()


def api(method: str, path: str, raw: str, headers, query: str = ""):
    """Answers one /v1 request: (status, body text)."""
    try:
        authenticate(headers.get("Authorization"))
        endpoint = find_route(method, path)
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise ClerkError(400, "malformed_request", "malformed request",
                             "The request body is not valid JSON.") from None
        if method == "GET":  # a GET's parameters are its query string
            body = parse_qs(query)
    except ClerkError as e:
        return e.status, e.body()
    if settings.LATENCY_S:
        time.sleep(settings.LATENCY_S)
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
