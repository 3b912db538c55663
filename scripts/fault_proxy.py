#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for `make soak` (scripts/soak.py): one port per upstream — the local AWS, the
local Stripe, the local Clerk — each passing calls through or failing a share of them in that service's own wire
shape. The functions are pointed at it through their usual endpoint settings (AWS_ENDPOINT_URL,
STRIPE_API_BASE, CLERK_API_BASE), so every call they make goes through it and nothing in them knows.

    .venv/bin/python scripts/fault_proxy.py --upstream aws=http://127.0.0.1:5000 \\
        --upstream stripe=http://127.0.0.1:12111 --upstream clerk=http://127.0.0.1:12112 \\
        [--config faults.json] [--seed 7]

Prints `listening <name> <port>` per upstream, then `control <port>`, then serves until killed.

Each call is classified by service and operation: AWS by the SigV4 credential scope's service (`dynamodb`,
`sns`, `sqs`, `secretsmanager`) and the operation from the `X-Amz-Target` header (`DynamoDB_20120810.PutItem`
-> `PutItem`) or the query protocol's `Action=` (SNS `Publish`); Stripe and Clerk by `METHOD /path` with ids
replaced by `{id}` (`POST /v1/customers/{id}`). The configuration (JSON; also POST /config on the control port)
gives each service, and optionally each operation of it, the share of calls per fault class:

    {"enabled": true, "services": {"dynamodb": {"error": 0.02, "throttle": 0.03, "timeout": 0.005,
                                                "delay": 0.05, "ops": {"TransactWriteItems": {"throttle": 0.1}}},
                                   "stripe": {...}, "clerk": {...}, "sns": {...}, "sqs": {...}}}

The classes, decided once per call (at most one fault per call):
  error     500 or 503 with the service's error body: DynamoDB / SQS JSON `__type` InternalServerError /
            InternalError / ServiceUnavailable, SNS's XML ErrorResponse (`InternalError`, `ServiceUnavailable`),
            Stripe's `{"error": {"type": "api_error", ...}}`, Clerk's `{"errors": [...]}`. Nothing reaches the
            upstream: the call had no effect.
  throttle  the throttling answer each service really sends, nothing reaching the upstream: DynamoDB 400
            `ProvisionedThroughputExceededException` or `ThrottlingException` (`__type` with its namespace),
            SNS 400 `Throttling` (XML, Sender), SQS 400 `RequestThrottled` (JSON `__type` and the
            `x-amzn-query-error` header), Stripe 429 `rate_limit` with `Retry-After`, Clerk 429
            `too_many_requests` with `Retry-After`.
  timeout   the call IS forwarded (the upstream applies it) and its answer is withheld past every client timeout
            (--hold seconds), then the connection is closed: the caller cannot tell whether it happened.
  delay     forwarded after 0.1-1 s (uniform) and answered normally.

GET /stats on the control port answers the counts: calls and faults per service, class and operation.
POST /config replaces the configuration (`{"enabled": false}` stops every fault: the soak's convergence phase).
Standard library only; TCP_NODELAY on every socket (loopback delayed ACKs would add ~40 ms per call).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import socket
import sys
import threading
import time
import uuid
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CLASSES = ("error", "throttle", "timeout", "delay")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
ID_SEGMENT = re.compile(r"^(?:[a-z]+_[A-Za-z0-9]+|[0-9a-f-]{16,}|\d+)$")


class Faults:
    """The configuration, the decision per call and the counts; shared by every port's threads."""

    def __init__(self, config: dict, seed: int | None, hold: float):
        self.lock = threading.Lock()
        self.random = random.Random(seed)
        self.hold = hold
        self.config = config
        self.calls = defaultdict(int)  # service -> calls
        self.faults = defaultdict(int)  # (service, class) -> count
        self.by_op = defaultdict(int)  # (service, op, class) -> count
        self.owed: dict[tuple, float] = {}  # (service[, op], class) -> the share of a call owed

    def set_config(self, config: dict) -> None:
        with self.lock:
            self.config = config

    def decide(self, service: str, op: str):
        """(class or None, a uniform draw for the class's own variant)."""
        with self.lock:
            self.calls[service] += 1
            if not self.config.get("enabled", True):
                return None, 0.0
            rates = dict((self.config.get("services") or {}).get(service) or {})
            override = ((rates.get("ops") or {}).get(op)) or {}
            rates.update(override)
            variant = self.random.random()
            # Each class is owed its rate on every call and fires when a whole call is owed (the first owed
            # start at a seeded random phase): a service's calls fail at the configured share, to within one
            # call, however few it gets — a random draw per call could leave a small service below it.
            scope = (service, op) if override else (service,)
            chosen = None
            for name in CLASSES:
                key = (*scope, name)
                if key not in self.owed:
                    self.owed[key] = self.random.random()
                self.owed[key] += float(rates.get(name, 0) or 0)
            for name in CLASSES:
                key = (*scope, name)
                if chosen is None and self.owed[key] >= 1.0:
                    self.owed[key] -= 1.0
                    chosen = name
            if chosen is not None:
                self.faults[(service, chosen)] += 1
                self.by_op[(service, op, chosen)] += 1
            return chosen, variant

    def stats(self) -> dict:
        with self.lock:
            services = sorted(set(self.calls) | {s for s, _ in self.faults})
            return {
                "enabled": self.config.get("enabled", True),
                "services": {
                    s: {"calls": self.calls[s], "faults": {c: self.faults[(s, c)] for c in CLASSES}}
                    for s in services
                },
                "operations": [
                    {"service": s, "op": op, "class": c, "count": n} for (s, op, c), n in sorted(self.by_op.items())
                ],
            }


def aws_service(headers) -> str:
    """The SigV4 credential scope's service: `Credential=AKID/20260101/us-east-1/dynamodb/aws4_request`."""
    match = re.search(r"Credential=[^/]+/\d+/[^/]+/([^/]+)/aws4_request", headers.get("Authorization", ""))
    return match.group(1) if match else "aws"


def aws_operation(headers, path: str, body: bytes) -> str:
    target = headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    query = parse_qs(urlsplit(path).query)
    if "Action" in query:
        return query["Action"][0]
    if b"Action=" in body[:2000]:
        return parse_qs(body[:2000].decode("utf-8", "replace")).get("Action", ["?"])[0]
    return "?"


def rest_operation(method: str, path: str) -> str:
    segments = [("{id}" if ID_SEGMENT.match(s) else s) for s in urlsplit(path).path.split("/")]
    return f"{method} {'/'.join(segments)}"


def request_id() -> str:
    return str(uuid.uuid4())


def aws_fault(service: str, kind: str, variant: float):
    """(status, headers, body) of an injected AWS error, in the service's protocol."""
    if service == "sns":  # the query protocol: XML
        if kind == "throttle":
            status, code, fault_type, message = 400, "Throttling", "Sender", "Rate exceeded"
        elif variant < 0.5:
            status, code, fault_type, message = 500, "InternalError", "Receiver", "Internal error (injected)"
        else:
            status, code, fault_type, message = 503, "ServiceUnavailable", "Receiver", "Service unavailable (injected)"
        body = (f'<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>{fault_type}</Type>'
                f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id()}</RequestId>"
                "</ErrorResponse>").encode()
        return status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id()}, body
    if service == "sqs":  # the JSON protocol, with the query-compatible error header
        if kind == "throttle":
            status, code, fault_type = 400, "RequestThrottled", "Sender"
        elif variant < 0.5:
            status, code, fault_type = 500, "InternalError", "Receiver"
        else:
            status, code, fault_type = 503, "ServiceUnavailable", "Receiver"
        body = json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": f"{code} (injected)"}).encode()
        return status, {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": request_id(),
                        "x-amzn-query-error": f"{code};{fault_type}"}, body
    # DynamoDB, Secrets Manager: the JSON protocol
    namespace = "com.amazonaws.dynamodb.v20120810" if service == "dynamodb" else "com.amazonaws.secretsmanager"
    if kind == "throttle":
        if service == "dynamodb" and variant < 0.5:
            status, type_, message = 400, f"{namespace}#ProvisionedThroughputExceededException", (
                "The level of configured provisioned throughput for the table was exceeded. Consider increasing "
                "your provisioning level with the UpdateTable API.")
        else:
            status, type_ = 400, "com.amazon.coral.availability#ThrottlingException"
            message = "Rate of requests exceeds the allowed throughput."
    elif variant < 0.5:
        status, type_, message = 500, f"{namespace}#InternalServerError", "Internal server error (injected)"
    else:
        status, type_ = 503, "com.amazon.coral.availability#ServiceUnavailableException"
        message = "Service unavailable (injected)"
    body = json.dumps({"__type": type_, "message": message}).encode()
    return status, {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": request_id()}, body


def stripe_fault(kind: str, variant: float):
    if kind == "throttle":
        error = {"type": "invalid_request_error", "code": "rate_limit",
                 "doc_url": "https://stripe.com/docs/error-codes/rate-limit",
                 "message": "Request rate limit exceeded. Learn more about rate limits here "
                            "https://stripe.com/docs/rate-limits."}
        return 429, {"Content-Type": "application/json", "Retry-After": "1",
                     "Request-Id": f"req_{uuid.uuid4().hex[:14]}"}, json.dumps({"error": error}).encode()
    status = 500 if variant < 0.5 else 503
    error = {"type": "api_error", "message": "An unknown error occurred (injected)."}
    return status, {"Content-Type": "application/json", "Request-Id": f"req_{uuid.uuid4().hex[:14]}"}, json.dumps(
        {"error": error}).encode()


def clerk_fault(kind: str, variant: float):
    trace = uuid.uuid4().hex
    if kind == "throttle":
        error = {"message": "Too Many Requests", "long_message": "Too many requests, please try again later.",
                 "code": "too_many_requests"}
        return 429, {"Content-Type": "application/json", "Retry-After": "1"}, json.dumps(
            {"errors": [error], "clerk_trace_id": trace}).encode()
    status = 500 if variant < 0.5 else 503
    error = {"message": "Oops, an unexpected error occurred",
             "long_message": "There was an internal error on our servers.", "code": "internal_clerk_error"}
    body = json.dumps({"errors": [error], "clerk_trace_id": trace}).encode()
    return status, {"Content-Type": "application/json"}, body


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, handler, name: str = "", upstream: str = "", faults: Faults | None = None):
        super().__init__(("127.0.0.1", 0), handler)
        self.name, self.faults = name, faults
        parts = urlsplit(upstream) if upstream else None
        self.upstream = (parts.hostname, parts.port) if parts else None

    def get_request(self):
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, *args) -> None:
        pass

    def do_any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        name = self.server.name
        if name == "aws":
            service = aws_service(self.headers)
            op = aws_operation(self.headers, self.path, body)
        else:
            service, op = name, rest_operation(self.command, self.path)
        kind, variant = self.server.faults.decide(service, op)
        if kind in ("error", "throttle"):
            if name == "aws":
                answer = aws_fault(service, kind, variant)
            elif name == "stripe":
                answer = stripe_fault(kind, variant)
            else:
                answer = clerk_fault(kind, variant)
            self.reply(*answer)
            return
        if kind == "delay":
            time.sleep(0.1 + 0.9 * variant)
        try:
            status, headers, answer = self.forward(body)
        except OSError as e:
            self.reply(502, {"Content-Type": "text/plain"}, f"fault proxy: upstream unreachable: {e}".encode())
            return
        if kind == "timeout":
            # Applied upstream, the answer withheld past the caller's timeout, then the connection dropped.
            time.sleep(self.server.faults.hold)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.reply(status, headers, answer)

    def forward(self, body: bytes):
        host, port = self.server.upstream
        conn = getattr(self, "_upstream", None)
        for attempt in range(2):
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=60)
                conn.connect()
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = None
                if attempt:
                    raise
                continue
            self._upstream = conn
            out = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP | {"content-length"}]
            return response.status, out, data
        raise OSError("no answer")

    def reply(self, status: int, headers, body: bytes) -> None:
        self.send_response(status)
        for k, v in (headers.items() if isinstance(headers, dict) else headers):
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_any


class Control(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, *args) -> None:
        pass

    def answer(self, status: int, value) -> None:
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/stats":
            self.answer(200, self.server.faults.stats())
        else:
            self.answer(404, {"error": "GET /stats or POST /config"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            config = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self.answer(400, {"error": "the configuration is not JSON"})
            return
        if self.path != "/config" or not isinstance(config, dict):
            self.answer(400, {"error": "POST /config with a JSON object"})
            return
        self.server.faults.set_config(config)
        self.answer(200, {"ok": True})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", action="append", default=[], metavar="NAME=URL",
                        help="aws=..., stripe=..., clerk=... (one port each)")
    parser.add_argument("--config", help="the JSON configuration (default: no faults)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--hold", type=float, default=6.0, help="seconds a timed-out call's answer is withheld")
    args = parser.parse_args(argv)
    config = json.load(open(args.config)) if args.config else {"enabled": False}
    faults = Faults(config, args.seed, args.hold)
    servers = []
    for spec in args.upstream:
        name, _, url = spec.partition("=")
        if name not in ("aws", "stripe", "clerk") or not url:
            parser.error(f"--upstream {spec}: expected aws|stripe|clerk=URL")
        servers.append(Server(Proxy, name, url, faults))
    control = Server(Control, faults=faults)
    for server in servers:
        print(f"listening {server.name} {server.server_address[1]}", flush=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"control {control.server_address[1]}", flush=True)
    try:
        control.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
