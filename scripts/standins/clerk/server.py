"""The local Clerk's HTTP side and command line (scripts/fake_clerk.py runs `main`): the JWKS, the sign-in page,
the control API and the Backend API on one port."""

from __future__ import annotations

import json
import threading
from urllib.parse import parse_qs

from .. import clerk
from ..http import StandinHandler, arg_parser, form_first, serve
from . import settings
from .api import api
from .control import control
from .frontend import frontend, uses_session_token
from .signin import send_event, sign_in, sign_in_page, signing_key
from .state import LOCK, STATE, ClerkError


class Handler(StandinHandler):
    server_version = "fake-clerk"
    lock = LOCK

    def handle_request(self, method: str, url, raw: str) -> None:
        path, query = url.path, url.query
        if method == "GET" and path in ("/.well-known/jwks.json", "/v1/jwks"):
            return self.reply(200, json.dumps(signing_key().jwks()))
        if path == "/sign-in" and method in ("GET", "POST"):
            if method == "GET":
                redirect_url = (parse_qs(url.query).get("redirect_url") or [""])[0]
                status, headers, page = 200, {}, sign_in_page(redirect_url)
            else:
                status, headers, page = sign_in(form_first(raw), self.headers)
            return self.reply(status, page, headers, "text/html; charset=utf-8")
        if path.startswith("/__fake/"):
            return self.reply(*self.control_answer(control, method, path, raw))
        if uses_session_token(method, path, self.headers.get("Authorization")):
            return self.frontend_answer(method, path, raw)
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
        self.send_outbox()
        self.reply(status, text)

    def frontend_answer(self, method: str, path: str, raw: str) -> None:
        """The Frontend API's answer, with CORS for the calling page (ClerkJS calls it from the app's origin)."""
        cors = {"Access-Control-Allow-Origin": self.headers.get("Origin") or "*",
                "Access-Control-Allow-Headers": "authorization, content-type",
                "Access-Control-Allow-Methods": "GET, POST, PATCH, DELETE", "Access-Control-Max-Age": "600",
                "Vary": "Origin"}
        if method == "OPTIONS":
            return self.reply(204, "", cors)
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            error = ClerkError(400, "malformed_request", "malformed request", "The request body is not a JSON object.")
            return self.reply(error.status, error.body(), cors)
        with LOCK:
            try:
                status, answer = frontend(method, path, body, self.headers.get("Authorization"))
                text = json.dumps(answer)
            except ClerkError as e:
                STATE.take_outbox()
                status, text = e.status, e.body()
        self.send_outbox()
        self.reply(status, text, cors)

    def send_outbox(self) -> None:
        """Sends the webhooks the request caused (Svix-signed, each in the background, retried)."""
        with LOCK:
            events = STATE.take_outbox()
        for type_, data in events:
            send_event(type_, data, self.headers)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_OPTIONS = StandinHandler.do_request

    def reply_headers(self, status: int) -> dict:
        return {"Retry-After": "1"} if status == 429 else {}


def main() -> None:
    parser = arg_parser(clerk.__doc__.splitlines()[0])
    parser.add_argument("--webhook-url", help="where Clerk's webhooks go (the clerk-webhook): user.created, "
                                              "organization.created, organizationMembership.*")
    parser.add_argument("--webhook-secret", help="its Svix signing secret, whsec_...")
    args = parser.parse_args()
    settings.LATENCY_S = args.latency_ms / 1000
    settings.WEBHOOK.update(url=args.webhook_url, secret=args.webhook_secret)

    def started(base_url: str) -> None:
        settings.BASE_URL = base_url
        threading.Thread(target=signing_key, daemon=True).start()

    serve(Handler, args.port, started)
