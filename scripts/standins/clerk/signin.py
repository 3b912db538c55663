"""Sign-in, as a Clerk instance's Frontend API would do it for the demo app: the instance's RSA key and its
JWKS, session tokens (RS256), the sign-in page, and `user.created` sent Svix-signed to --webhook-url."""

from __future__ import annotations

import base64
import copy
import hashlib
import html
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from ..signing import svix_headers
from . import settings
from .settings import SESSION_TTL_S
from .state import INSTANCE_ID, LOCK, STATE, new_id, now_ms, user_object


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

        def compact(value) -> str:
            return b64url(json.dumps(value, separators=(",", ":")).encode())

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


def new_session(user_id: str, azp, ttl: int = SESSION_TTL_S, org_claims: dict | None = None):
    """(token, session id, exp) for a new session of `user_id`; `org_claims` (organizations.session_claims:
    `v`, `o`, `fea`) when an organization is active. Runs under LOCK."""
    now = int(time.time())
    sid = new_id("sess_")
    STATE.sessions[sid] = {"id": sid, "object": "session", "user_id": user_id, "status": "active",
                           "last_active_organization_id": org_claims["o"]["id"] if org_claims else None,
                           "created_at": now * 1000, "expire_at": (now + ttl) * 1000, "_azp": azp, "_ttl": ttl}
    token, exp = session_token(STATE.sessions[sid], org_claims)
    return token, sid, exp


def session_token(session: dict, org_claims: dict | None = None):
    """(token, exp): a fresh token of an existing session (as Clerk's `POST /v1/client/sessions/{id}/tokens`
    mints one), with `org_claims` for its active organization. Runs under LOCK."""
    now = int(time.time())
    exp = now + session["_ttl"]
    claims = {"sub": session["user_id"], "iss": settings.BASE_URL, "sid": session["id"], "iat": now, "nbf": now,
              "exp": exp}
    if session["_azp"]:
        claims["azp"] = session["_azp"]
    claims.update(org_claims or {})
    session["last_active_at"] = now * 1000
    return signing_key().sign(claims), exp


def origin_of(url: str):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def deliver_webhook(event: dict) -> None:
    """Sends one event as Svix does: signed `{id}.{timestamp}.{body}`, retried with backoff on a non-2xx or a
    connection error (the same svix-id each time, so the receiver de-duplicates; a fresh timestamp and
    signature each attempt). Runs in its own thread; each attempt is logged on stderr."""
    url, secret = settings.WEBHOOK["url"], settings.WEBHOOK["secret"]
    if not url or not secret:
        print(f"fake Clerk: no --webhook-url/--webhook-secret, {event['type']} not sent", file=sys.stderr, flush=True)
        return
    body = json.dumps(event, separators=(",", ":")).encode()
    with LOCK:
        msg_id = new_id("msg_")
    delay = 1.0
    for attempt in range(1, 16):
        started = time.monotonic()
        timestamp = str(int(time.time()))
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "content-type": "application/json", "user-agent": "Svix-Webhooks/1.0 (fake Clerk)",
            **svix_headers(secret, msg_id, timestamp, body)})
        status = None
        try:
            # Long timeout: `cargo lambda watch` compiles the function on its first request.
            with urllib.request.urlopen(request, timeout=900) as response:
                status = response.status
                outcome, ok = f"HTTP {status} {response.read(300).decode(errors='replace')}", True
        except urllib.error.HTTPError as e:
            status = e.code
            outcome, ok = f"HTTP {status} {e.read(300).decode(errors='replace')}", False
        except (OSError, ValueError) as e:
            outcome, ok = f"failed: {e}", False
        with LOCK:
            STATE.deliveries.append({"event": msg_id, "type": event["type"], "attempt": attempt, "status": status,
                                     "ok": ok, "duration_ms": round((time.monotonic() - started) * 1000)})
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
