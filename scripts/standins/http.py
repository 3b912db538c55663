"""The HTTP side both local stand-ins share (fake_stripe.py, fake_clerk.py).

A threaded server on 127.0.0.1 (`--port 0` takes any free port) that prints `listening on <port>` as its first
stdout line, which is how the Rust tests (crates/test-support), scripts/dev.sh and the unit tests find it; a
request handler base (HTTP/1.1 keep-alive, TCP_NODELAY, no access log, the body read as text, JSON replies);
routing by method and path (a regex the whole path must match); the control API's JSON in and out. Each
stand-in subclasses `StandinHandler`, says which methods it serves and answers in `handle_request`.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, urlsplit


def arg_parser(description: str) -> argparse.ArgumentParser:
    """The flags both stand-ins take: `--port` (0: any free port) and `--latency-ms` (added to each API call)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=int, default=0)
    return parser


def serve(handler: type[BaseHTTPRequestHandler], port: int, started=None) -> None:
    """Serves `handler` on 127.0.0.1:`port` until interrupted. `started(base_url)` runs once the port is bound,
    before the `listening on <port>` line."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    if started is not None:
        started(f"http://127.0.0.1:{server.server_address[1]}")
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def routes(table: list) -> list:
    """`[(method, pattern, handler), ...]` with each pattern compiled."""
    return [(method, re.compile(pattern), handler) for method, pattern, handler in table]


def match_route(table: list, method: str, path: str):
    """`(handler, the pattern's groups)` of the first route of `table` (see `routes`) whose pattern matches the
    whole path and whose method is `method`; None when none does."""
    for route_method, pattern, handler in table:
        match = pattern.fullmatch(path)
        if match and route_method == method:
            return handler, match.groups()
    return None


def json_body(raw: str):
    """A JSON body; `{}` when it is empty. A ValueError when it is not JSON."""
    return json.loads(raw) if raw.strip() else {}


def form_last(raw: str) -> dict:
    """A form-encoded body as a flat dict, the last value of a repeated name winning."""
    return {k: v for k, v in parse_qsl(raw, keep_blank_values=True)}


def form_first(raw: str) -> dict:
    """A form-encoded body as a flat dict, the first value of a repeated name winning."""
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


class StandinHandler(BaseHTTPRequestHandler):
    """Reads the request (method, split URL, body as text) and hands it to `handle_request`. A subclass sets
    `server_version`, `lock` (the one lock its state lives behind) and `do_<METHOD> = StandinHandler.do_request`
    for each method it serves (any other answers 501, as BaseHTTPRequestHandler does)."""

    protocol_version = "HTTP/1.1"
    lock = None

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def read_body(self) -> str:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode("utf-8", errors="replace") if length else ""

    def do_request(self):
        method = self.command
        raw = self.read_body()
        self.handle_request(method, urlsplit(self.path), raw)

    def handle_request(self, method: str, url, raw: str) -> None:
        raise NotImplementedError

    def reply_headers(self, status: int) -> dict:
        """Headers every answer with `status` carries, after the answer's own."""
        return {}

    def reply(self, status: int, text: str, headers: dict | None = None, content_type: str = "application/json"):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        for name, value in self.reply_headers(status).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def control_answer(self, control, method: str, path: str, raw: str, refused: tuple = ()):
        """(status, JSON text) of a control API call (no auth, JSON in and out): `control(method, path, data)`
        under the lock; an exception of `refused` (with `.status` and `.error`) answers `{"error": e.error}`, a
        malformed call a 400."""
        try:
            data = json_body(raw)
            with self.lock:
                status, body = control(method, path, data)
                text = json.dumps(body)
        except refused as e:
            status, text = e.status, json.dumps({"error": e.error})
        except (ValueError, TypeError, AttributeError, KeyError) as e:
            status, text = 400, json.dumps({"error": {"message": f"bad control request: {e!r}"}})
        return status, text
