#!/usr/bin/env python3
"""Measures the CPU a Lambda binary spends per warm event: the whole process's utime + stime over N events.

    scripts/warm_cpu.py --function stripe-webhook --binary target/release/stripe-webhook [--events 1000]

Three loopback stand-ins, all answering at once so that only the binary's own work is measured:
  * a Lambda Runtime API that feeds the binary N signed webhook events (API Gateway HTTP API v2 shape) one after
    the other and checks every answer is a 2xx;
  * AWS (`AWS_ENDPOINT_URL`): DynamoDB PutItem / UpdateItem / GetItem / DeleteItem (`{}`, no item) and SNS
    Publish and PublishBatch, with valid-shaped responses;
  * Stripe (`STRIPE_API_BASE`, for clerk-webhook): create and update customer.
stripe-webhook gets `customer.subscription.updated` (4.4 KB); clerk-webhook gets `user.created` for a new user each
time (claim, customer row, Stripe create + profile update, one PublishBatch of two events); usage-api gets
`POST /v1/usage` (a consume of 1 message under a fresh idempotency key: one BatchGetItem of the entitlements row
and the counter, one TransactWriteItems of the counter and the idempotency record); usage-api-plan is the same
binary and request for a user on a paid plan (the entitlements row read and decoded), and usage-api-member for a
member of an organization on the team plan, whose per-member cap puts the member's counter in the same read and
the same transaction — the pair to compare. usage-api-read is `GET /v1/entitlements?subject=` (the current row, one
BatchGetItem) and usage-api-at is `GET /v1/entitlements?subject=&at=&explain=true` (the version in force at an
instant: one Query of the history, its provenance decoded) — the point-in-time read and its peer. The CPU time
is read from /proc/<pid>/stat after a warm-up (cold start and first connections excluded) and after the N measured
events, so it is the per-event cost in a warm Lambda environment. /proc ticks are 10 ms: keep N * cost well above that.
Standard library only (the Lambda environment comes from cold_start.py, the signatures from standins/signing.py).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cold_start import kill, lambda_env  # noqa: E402
from standins.signing import stripe_signature, svix_headers  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
STRIPE_SECRET = "whsec_warm_cpu_measurement"
CLERK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TICK = os.sysconf("SC_CLK_TCK")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler) -> None:
        super().__init__(("127.0.0.1", 0), handler)

    def get_request(self):
        sock, addr = super().get_request()
        # Without this, delayed ACKs add ~40 ms per request on loopback.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, code: int, body: bytes, content_type: str = "application/json", headers=()) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


# ---------------------------------------------------------------- AWS and Stripe, answered at once

SNS_PUBLISHED = (
    '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
    "<MessageId>{id}</MessageId></PublishResult><ResponseMetadata><RequestId>{id}</RequestId>"
    "</ResponseMetadata></PublishResponse>"
)


SNS_BATCH_PUBLISHED = (
    '<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishBatchResult><Successful>'
    "{members}</Successful><Failed/></PublishBatchResult><ResponseMetadata><RequestId>{id}</RequestId>"
    "</ResponseMetadata></PublishBatchResponse>"
)


class Aws(Quiet):
    def do_POST(self) -> None:
        body = self.body()
        target = self.headers.get("X-Amz-Target") or ""
        request_id = str(uuid.uuid4())
        if target.startswith("DynamoDB_20120810."):
            operation = target.split(".", 1)[1]
            if operation == "Query":
                # The history: the version in force at the instant asked about.
                self.reply(200, query_answer(body), "application/x-amz-json-1.0", [("x-amzn-RequestId", request_id)])
                return
            if operation in ("PutItem", "UpdateItem", "GetItem", "DeleteItem", "TransactWriteItems"):
                self.reply(200, b"{}", "application/x-amz-json-1.0", [("x-amzn-RequestId", request_id)])
                return
            if operation == "BatchGetItem":
                # Nothing stored yet (a counter at zero), and the entitlements row of ROWS' plan for the subject
                # asked about, or none (the free plan).
                self.reply(200, batch_get_answer(body, self.server.rows), "application/x-amz-json-1.0",
                           [("x-amzn-RequestId", request_id)])
                return
        elif b"Action=PublishBatch" in body:
            entries = body.count(b".Id=")
            members = "".join(f"<member><Id>{n}</Id><MessageId>{uuid.uuid4()}</MessageId></member>"
                              for n in range(entries))
            self.reply(200, SNS_BATCH_PUBLISHED.format(id=request_id, members=members).encode(), "text/xml",
                       [("x-amzn-RequestId", request_id)])
            return
        elif b"Action=Publish" in body:
            self.reply(200, SNS_PUBLISHED.format(id=request_id).encode(), "text/xml",
                       [("x-amzn-RequestId", request_id)])
            return
        self.server.unexpected.append(f"{target or body[:40]!r}")
        self.reply(400, b'{"__type":"UnknownOperationException"}', "application/x-amz-json-1.0")


class Stripe(Quiet):
    def do_POST(self) -> None:
        self.body()
        path = self.path.split("?", 1)[0]
        if path == "/v1/customers":
            customer_id = "cus_" + uuid.uuid4().hex[:14]
        elif path.startswith("/v1/customers/"):
            customer_id = path.rsplit("/", 1)[1]
        else:
            self.server.unexpected.append(f"POST {path}")
            self.reply(404, b'{"error":{"type":"invalid_request_error","message":"unexpected"}}')
            return
        customer = {"id": customer_id, "object": "customer", "created": int(time.time()), "livemode": False,
                    "metadata": {}, "email": None, "name": None}
        self.reply(200, json.dumps(customer).encode(), headers=[("Request-Id", "req_" + uuid.uuid4().hex[:14])])


# ---------------------------------------------------------------- the Runtime API feeding the events

NEXT_PATH = "/2018-06-01/runtime/invocation/next"


class Runtime(Quiet):
    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != NEXT_PATH:
            self.reply(404, b"{}")
            return
        request_id, payload = self.server.events.get()  # blocks once the run is over
        deadline = int(time.time() * 1000) + 10_000
        self.reply(200, payload, headers=[
            ("Lambda-Runtime-Aws-Request-Id", request_id),
            ("Lambda-Runtime-Deadline-Ms", str(deadline)),
            ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:warm-cpu"),
            ("Lambda-Runtime-Trace-Id", "Root=1-68dd4a7c-7c21e04b9f3d6a8152e0b4c9;Sampled=0"),
        ])

    def do_POST(self) -> None:
        body = self.body()
        server = self.server
        if self.path.endswith("/response"):
            try:
                status = json.loads(body).get("statusCode", 0)
            except ValueError:
                status = 0
            ok = 200 <= int(status) < 300
        else:  # /error or /init/error
            ok, status = False, body[:200]
        # Read the CPU before acknowledging: the process is waiting on this answer.
        server.on_answer(ok, status)
        self.reply(202, b'{"status":"OK"}')


def proc_cpu(pid: int) -> tuple[int, int]:
    """(utime, stime) in clock ticks, all threads of the process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


class Feed:
    """Counts the answers and takes the CPU readings at the measurement's start and end."""

    def __init__(self, warmup: int, events: int) -> None:
        self.warmup, self.events = warmup, events
        self.answered = 0
        self.failures: list[str] = []
        self.pid: int | None = None
        self.start: tuple[int, int] | None = None
        self.start_wall = 0.0
        self.end: tuple[int, int] | None = None
        self.end_wall = 0.0
        self.done = threading.Event()

    def on_answer(self, ok: bool, status) -> None:
        self.answered += 1
        if not ok:
            self.failures.append(str(status))
            self.done.set()
        if self.answered == self.warmup:
            self.start, self.start_wall = proc_cpu(self.pid), time.perf_counter()
        elif self.answered == self.warmup + self.events:
            self.end, self.end_wall = proc_cpu(self.pid), time.perf_counter()
            self.done.set()


def apigw_event(route: str, headers: dict[str, str], body: bytes) -> dict:
    event = json.loads((REPO_ROOT / "fixtures" / "apigw" / "http-v2.json").read_text())
    event.pop("pathParameters", None)
    event["routeKey"] = event["requestContext"]["routeKey"] = f"POST {route}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = route
    event["headers"].pop("stripe-signature", None)
    event["headers"].update(headers)
    event["body"] = body.decode()
    return event


def apigw_get(route: str, query: str, headers: dict[str, str]) -> dict:
    event = apigw_event(route, headers, b"")
    event["routeKey"] = event["requestContext"]["routeKey"] = f"GET {route}"
    event["requestContext"]["http"]["method"] = "GET"
    event["rawQueryString"] = query
    event["queryStringParameters"] = dict(pair.split("=", 1) for pair in query.split("&"))
    event.pop("body", None)
    event["headers"].pop("content-type", None)
    return event


def stripe_events(count: int):
    fixture = json.loads((REPO_ROOT / "fixtures" / "stripe" / "customer.subscription.updated.json").read_text())
    for i in range(count):
        fixture["id"] = f"evt_warm{i:020d}"
        fixture["created"] = now = int(time.time())
        body = json.dumps(fixture, separators=(",", ":")).encode()
        yield apigw_event("/webhooks/stripe", {"stripe-signature": stripe_signature(STRIPE_SECRET, now, body)}, body)


def clerk_events(count: int):
    fixture = json.loads((REPO_ROOT / "fixtures" / "clerk" / "user.created.json").read_text())
    for i in range(count):
        now = int(time.time())
        fixture["timestamp"] = now * 1000
        fixture["data"]["id"] = f"user_warm{i:020d}"
        body = json.dumps(fixture, separators=(",", ":")).encode()
        msg_id = f"msg_warm{i:023d}"
        yield apigw_event("/webhooks/clerk", svix_headers(CLERK_SECRET, msg_id, now, body), body)


USAGE_KEY = "sk_usage_warm_cpu_measurement"


def entitlements_row(subject: str, plan: str, limits: dict) -> dict:
    """The entitlements table's item for `subject` on `plan`, as the processor writes it (`doc` = the JSON)."""
    doc = {"userId": subject, "plan": plan, "status": "active", "features": ["agents", "api_access"],
           "limits": limits, "credits": 0, "periodEnd": "2099-01-01T00:00:00Z", "graceUntil": None,
           "subscriptionId": "sub_warm", "updatedAt": "2026-12-01T00:00:00Z"}
    return {"userId": {"S": subject}, "entry": {"S": "current"}, "doc": {"S": json.dumps(doc)}}


def batch_get_answer(body: bytes, rows) -> bytes:
    responses = {}
    if rows:
        for table, request in json.loads(body)["RequestItems"].items():
            for key in request["Keys"]:
                if key.get("entry", {}).get("S") == "current":
                    subject = key["userId"]["S"]
                    plan, limits = rows
                    responses[table] = [entitlements_row(subject, plan, limits)]
    return json.dumps({"Responses": responses, "UnprocessedKeys": {}}).encode()


def usage_body(i: int, who: dict) -> bytes:
    return json.dumps({**who, "feature": "messages_per_day", "amount": 1, "idempotencyKey": f"warm-{i:08d}"},
                      separators=(",", ":")).encode()


def consume(i: int, who: dict):
    headers = {"authorization": f"Bearer {USAGE_KEY}", "content-type": "application/json"}
    return apigw_event("/v1/usage", headers, usage_body(i, who))


def usage_events(count: int):
    for i in range(count):
        yield consume(i, {"userId": f"user_warm{i % 50:020d}"})


def usage_plan_events(count: int):
    """A user on a paid plan (its entitlements row read and decoded): the peer of a member's consume."""
    for i in range(count):
        yield consume(i, {"subject": f"user_warm{i % 50:020d}"})


def usage_member_events(count: int):
    """A member of an organization on a plan with a per-member cap: the pool and the member's counter, both
    read in the one BatchGetItem and written in the one TransactWriteItems."""
    for i in range(count):
        yield consume(i, {"subject": f"org_warm{i % 50:020d}", "memberId": f"user_warm{i % 7:020d}"})


def history_version(subject: str) -> dict:
    """A version as the processor appends it: a starter plan with two team packs, its provenance and explain."""
    limits = {"agents": 13, "messages_per_day": 3_000}
    entitlements = {"userId": subject, "plan": "starter", "status": "active",
                    "features": ["agents", "api_access", "audit_log"], "limits": limits, "credits": 0,
                    "periodEnd": "2099-01-01T00:00:00Z", "graceUntil": None, "subscriptionId": "sub_warm",
                    "addons": [{"plan": "team_pack", "quantity": 2, "subscriptionId": "sub_warm"}],
                    "updatedAt": "2026-12-01T00:00:00Z"}
    item = {"subscriptionId": "sub_warm", "status": "active", "price": "price_starter", "lookupKey": "starter_monthly",
            "plan": "starter", "addon": False, "quantity": 1, "itemId": "si_warm1"}
    pack = {**item, "price": "price_pack", "lookupKey": "team_pack_monthly", "plan": "team_pack", "addon": True,
            "quantity": 2, "itemId": "si_warm2"}
    terms = {
        "agents": [{"plan": "starter", "addon": False, "perUnit": 3, "quantity": 1, "subscriptionId": "sub_warm"},
                   {"plan": "team_pack", "addon": True, "perUnit": 5, "quantity": 2, "subscriptionId": "sub_warm"}],
        "messages_per_day": [
            {"plan": "starter", "addon": False, "perUnit": 1000, "quantity": 1, "subscriptionId": "sub_warm"},
            {"plan": "team_pack", "addon": True, "perUnit": 1000, "quantity": 2, "subscriptionId": "sub_warm"}],
    }
    explain = {"limits": {name: {"value": limits[name], "terms": t, "text": f"{name} {limits[name]} = …"}
                          for name, t in terms.items()},
               "features": {"agents": ["starter"], "api_access": ["starter"], "audit_log": ["team_pack"]},
               "status": "active on starter (sub_warm)"}
    provenance = {"cause": {"eventId": "evt_warm", "type": "subscription.updated", "subscriptionId": "sub_warm"},
                  "previousVersion": 1, "catalog": "cat_0123456789abcdef", "items": [item, pack],
                  "reasons": ["addon_added"],
                  "changes": [{"field": "limits.agents", "from": 3, "to": 13}], "explain": explain}
    return {"version": 2, "appliedAt": "2026-12-01T00:00:00Z", "entitlements": entitlements,
            "provenance": provenance}


def query_answer(body: bytes) -> bytes:
    subject = json.loads(body)["ExpressionAttributeValues"][":u"]["S"]
    item = {"userId": {"S": subject}, "entry": {"S": "h#2026-12-01T00:00:00Z#000000000002"},
            "doc": {"S": json.dumps(history_version(subject))}, "expiresAt": {"N": "1999999999"}}
    return json.dumps({"Items": [item], "Count": 1, "ScannedCount": 1}).encode()


def read_events(count: int):
    """The current entitlements (one BatchGetItem of the row and the credits counter): the at-read's peer."""
    headers = {"authorization": f"Bearer {USAGE_KEY}"}
    for i in range(count):
        yield apigw_get("/v1/entitlements", f"subject=user_warm{i % 50:020d}", headers)


def at_events(count: int):
    """The version in force at an instant, explained: one Query of the subject's history."""
    headers = {"authorization": f"Bearer {USAGE_KEY}"}
    for i in range(count):
        yield apigw_get("/v1/entitlements",
                        f"subject=user_warm{i % 50:020d}&at=2026-12-05T10%3A00%3A00Z&explain=true", headers)


USAGE_ENV = {"USAGE_API_KEYS": USAGE_KEY, "USAGE_TABLE": "entitle-usage", "ENTITLEMENTS_TABLE": "entitle-entitlements"}
# What BatchGetItem answers for each measured function: no entitlements row, or one on (plan, limits).
ROWS = {
    "usage-api-plan": ("professional", {"agents": 10, "messages_per_day": 10_000}),
    "usage-api-member": ("team", {"agents": 25, "messages_per_day": 5_000, "seats": 50}),
    "usage-api-read": ("starter", {"agents": 13, "messages_per_day": 3_000}),
}


FUNCTIONS = {
    "stripe-webhook": (stripe_events, {"STRIPE_WEBHOOK_SECRET": STRIPE_SECRET}),
    "clerk-webhook": (clerk_events, {"CLERK_WEBHOOK_SECRET": CLERK_SECRET, "STRIPE_SECRET_KEY": "sk_test_warm",
                                     "CLERK_SECRET_KEY": "sk_test_warm"}),
    "usage-api": (usage_events, USAGE_ENV),
    # The usage-api binary again: a user on a paid plan, and an organization's member under a per-member cap.
    "usage-api-plan": (usage_plan_events, USAGE_ENV),
    "usage-api-member": (usage_member_events, USAGE_ENV),
    # The usage-api binary's reads: the current entitlements, and the version in force at an instant.
    "usage-api-read": (read_events, USAGE_ENV),
    "usage-api-at": (at_events, USAGE_ENV),
}


def serve(handler) -> Server:
    server = Server(handler)
    server.unexpected = []
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--function", required=True, choices=sorted(FUNCTIONS))
    parser.add_argument("--binary", required=True, help="the function's executable (native release build)")
    parser.add_argument("--events", type=int, default=1000, help="measured events, default 1000")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured events first, default 50")
    parser.add_argument("--env", action="append", default=[], metavar="K=V", help="extra environment (repeatable)")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--log", help="keep the binary's output in this file")
    args = parser.parse_args(argv)
    if args.events < 1 or args.warmup < 1:
        print("warm_cpu: --events and --warmup must be >= 1", file=sys.stderr)
        return 2

    make_events, function_env = FUNCTIONS[args.function]
    total = args.warmup + args.events
    feed = Feed(args.warmup, args.events)
    runtime = serve(Runtime)
    runtime.events = queue.Queue()
    runtime.on_answer = feed.on_answer
    for n, event in zip(itertools.count(), make_events(total)):
        runtime.events.put((f"warm-{n:08d}", json.dumps(event).encode()))
    aws, stripe = serve(Aws), serve(Stripe)
    aws.rows = ROWS.get(args.function)

    env = lambda_env(runtime.server_address[1], {
        "RUST_LOG": "info",  # as the template sets it
        "AWS_ENDPOINT_URL": aws.base,
        "STRIPE_API_BASE": stripe.base,
        "CLERK_API_BASE": stripe.base,  # unused by the measured paths
        "IDEMPOTENCY_TABLE": "entitle-idempotency",
        "CUSTOMERS_TABLE": "entitle-customers",
        "BILLING_EVENTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:entitle-billing-events",
        **function_env,
    })
    for pair in args.env:
        k, _, v = pair.partition("=")
        env[k] = v

    if args.log:
        log_path = args.log
    else:
        fd, log_path = tempfile.mkstemp(prefix="warm-cpu-", suffix=".log")
        os.close(fd)
    try:
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([args.binary], env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT)
        feed.pid = proc.pid
        deadline = time.monotonic() + args.timeout
        try:
            while not feed.done.wait(0.1):
                if proc.poll() is not None or time.monotonic() > deadline:
                    break
            threads = len(os.listdir(f"/proc/{proc.pid}/task")) if proc.poll() is None else 0
        finally:
            kill(proc)
        problem = None
        if feed.failures:
            problem = f"an event was not answered 2xx: {feed.failures[0]}"
        elif feed.end is None:
            problem = f"only {feed.answered} of {total} events answered"
        elif aws.unexpected or stripe.unexpected:
            problem = f"unexpected calls: {(aws.unexpected + stripe.unexpected)[:3]}"
        if problem:
            print(f"warm_cpu: {args.function}: {problem}", file=sys.stderr)
            with open(log_path, "rb") as f:
                print("--- its output (last lines) ---\n" + "\n".join(
                    f.read()[-4000:].decode("utf-8", "replace").splitlines()[-15:]), file=sys.stderr)
            return 1
    finally:
        for server in (runtime, aws, stripe):
            server.shutdown()
            server.server_close()
        if not args.log:
            os.unlink(log_path)

    user = (feed.end[0] - feed.start[0]) / TICK * 1000 / args.events
    system = (feed.end[1] - feed.start[1]) / TICK * 1000 / args.events
    wall = (feed.end_wall - feed.start_wall) * 1000 / args.events
    print(f"{args.function}: {args.events} events ({args.warmup} warm-up), {threads} threads: "
          f"CPU {user + system:.3f} ms/event (user {user:.3f}, system {system:.3f}); "
          f"wall {wall:.3f} ms/event with the stand-ins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
