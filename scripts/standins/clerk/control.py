"""The control API for tests (no auth, JSON): /__fake/users, /__fake/sessions, /__fake/fail, /__fake/requests,
/__fake/reset (see `control`)."""

from __future__ import annotations

from urllib.parse import unquote

from .settings import SESSION_TTL_S
from .signin import new_session
from .state import STATE, user_object


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
        STATE.reset()
        return 200, {"ok": True}
    return 404, {"error": {"message": f"no control endpoint {method} {path}"}}
