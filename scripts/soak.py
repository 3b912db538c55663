#!/usr/bin/env python3
"""`make soak`: many customers' lives through the real functions on the local stack, with faults injected in
front of AWS, Stripe and Clerk and the functions crashed at chosen points, then every invariant checked against
an oracle computed from the stand-ins' final state (docs/soak.md).

    .venv/bin/python scripts/soak.py [--customers 200] [--duration 300] [--seed 1] [--fault-rate 0.08]
                                     [--crash-scale 1] [--out .local/soak] [--no-build]
                                     [--catalog fixtures/catalog/soak.toml] [--overage-every 5]

The stack is the one `make dev` runs — the local AWS from infra/template.yaml (scripts/local_aws.py), the local
Stripe (with --chaos: every event delivered twice, shuffled, and retried on a non-2xx) and Clerk stand-ins,
the five functions' debug binaries — with two parts of its own in between: scripts/fault_proxy.py (every call
the functions make to AWS, Stripe and Clerk goes through it: AWS_ENDPOINT_URL, STRIPE_API_BASE,
CLERK_API_BASE) and scripts/soak_lambda.py (Lambda's part: execution environments per function, restarted when
they crash, the SQS trigger of the processor). The functions run with ENTITLE_CRASH_AT
(crates/core/src/crash.rs): they abort at the claim before the publish, after a Stripe write before the answer,
after a queue record is applied before the batch is answered, and after a consume is written before its answer.

Phases: start; DURATION seconds of customers (sign-ups through Clerk, checkouts paid or declined on the local
hosted page, plan changes now and at the period end, add-ons, credit packs, cancels and resumes, a failing card
and its fix through the portal, usage consumers racing with holds, commits, releases and replays; every fifth
customer on Professional, which the soak's catalog bills for messages beyond the included amount, consuming past
it) while a clock
thread advances Stripe's test clock (renewals, dunning, period ends); then the faults and the crash points stop
and the soak waits for the stack to converge; then the oracle. It prints the figures and writes them to
OUT/report.json; exits 1 on any violation (or when a required share of faults or a crash point was not reached,
with --require).
"""

from __future__ import annotations

import argparse
import http.client as httpclient
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.parse
import uuid
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_aws import read_env_file  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FUNCTIONS = ("stripe-webhook", "clerk-webhook", "billing-api", "usage-api", "entitlement-processor")
APP_ORIGIN = "http://localhost:3000"
GOOD_CARD, DECLINED_CARD = "4242424242424242", "4000000000000002"
LIVE = ("active", "trialing", "past_due")
# Each function's crash points and their base probability (scaled by --crash-scale).
CRASH_POINTS = {
    "stripe-webhook": {"claimed": 0.02},
    "clerk-webhook": {"claimed": 0.04, "stripe_written": 0.03},
    "billing-api": {"stripe_written": 0.04},
    "usage-api": {"usage_recorded": 0.02},
    "entitlement-processor": {"processor_applied": 0.01},
}
TIMEOUTS = {"stripe-webhook": 10, "clerk-webhook": 15, "billing-api": 15, "usage-api": 10,
            "entitlement-processor": 30}
INSTANCES = {"stripe-webhook": 2, "clerk-webhook": 1, "billing-api": 2, "usage-api": 2, "entitlement-processor": 2}


def log(message: str) -> None:
    print(f"soak: {message}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------------------------
# HTTP: one keep-alive connection per thread and host
# ------------------------------------------------------------------------------------------------------------

_local = threading.local()


class NoAnswer(Exception):
    pass


def http(method: str, url: str, body=None, headers=None, timeout: float = 30.0, form: bool = False):
    """(status, headers dict, parsed JSON or text). Raises NoAnswer on a connection failure or timeout."""
    parts = urllib.parse.urlsplit(url)
    key = (parts.hostname, parts.port, timeout)
    conns = getattr(_local, "conns", None)
    if conns is None:
        conns = _local.conns = {}
    data = None
    headers = dict(headers or {})
    if body is not None:
        if form:
            data = urllib.parse.urlencode(body).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        else:
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    for attempt in range(2):
        conn = conns.get(key)
        if conn is None:
            conn = conns[key] = httpclient.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except (httpclient.HTTPException, OSError) as e:
            conn.close()
            conns.pop(key, None)
            if attempt == 0 and not isinstance(e, TimeoutError):
                continue
            raise NoAnswer(f"{method} {url}: {type(e).__name__} {e}") from e
        text = raw.decode("utf-8", "replace")
        try:
            value = json.loads(text) if text else None
        except ValueError:
            value = text
        return response.status, {k.lower(): v for k, v in response.getheaders()}, value
    raise NoAnswer(url)


# ------------------------------------------------------------------------------------------------------------
# The catalog, as the oracle reads it
# ------------------------------------------------------------------------------------------------------------


class Catalog:
    def __init__(self, path: Path):
        data = tomllib.loads(path.read_text())
        self.kinds = {name: spec["kind"] for name, spec in data["limits"].items()}
        self.plans = {}
        self.by_lookup = {}
        self.packs = {}
        for index, plan in enumerate(data["plans"]):
            self.plans[plan["id"]] = {
                "id": plan["id"], "addon": bool(plan.get("addon")), "rank": plan.get("rank", index),
                "features": set(plan.get("features", [])), "limits": dict(plan.get("limits", {})),
                "default": bool(plan.get("default")),
                "overage": set((plan.get("overage") or {}).keys()),
            }
            for price in plan.get("prices", []):
                self.by_lookup[price["lookup_key"]] = plan["id"]
        for pack in data.get("credit_packs", []):
            for price in pack.get("prices", []):
                self.packs[price["lookup_key"]] = pack["credits"]
        self.free = next(p for p in self.plans.values() if p["default"])

    def grant(self, base: dict, addons: list) -> tuple:
        features = set(base["features"])
        limits = {}
        for name in self.kinds:
            if self.kinds[name] == "credits":
                continue
            if name in base["limits"]:
                limits[name] = base["limits"][name]
        for plan_id, quantity in addons:
            plan = self.plans[plan_id]
            if quantity <= 0:
                continue
            features |= plan["features"]
            for name, extra in plan["limits"].items():
                have = limits.get(name, 0)
                limits[name] = "unlimited" if "unlimited" in (have, extra) else have + extra * quantity
        return features, limits


# ------------------------------------------------------------------------------------------------------------
# The stack
# ------------------------------------------------------------------------------------------------------------


class Stack:
    def __init__(self, args):
        self.args = args
        self.out = Path(args.out)
        self.procs = []
        self.aws_env_file = self.out / "aws.env"

    def spawn(self, name: str, argv: list, **kw) -> subprocess.Popen:
        log_file = open(self.out / f"{name}.log", "wb")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log_file, stdin=subprocess.DEVNULL,
                                cwd=REPO, start_new_session=True, **kw)
        self.procs.append(proc)
        return proc

    @staticmethod
    def first_lines(proc, n: int, name: str) -> list:
        lines = []
        for _ in range(n):
            line = proc.stdout.readline().decode().strip()
            if not line:
                raise RuntimeError(f"{name} exited before it was ready (see its log)")
            lines.append(line)
        # Keep draining stdout so the child never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
        return lines

    def start(self) -> None:
        a = self.args
        py = sys.executable
        r = subprocess.run([py, "scripts/local_aws.py", "start", "--env-file", str(self.aws_env_file),
                            "--log", str(self.out / "moto.log")], cwd=REPO)
        if r.returncode:
            raise RuntimeError("the local AWS did not start")
        self.aws = read_env_file(self.aws_env_file)
        self.gateway_port = free_port()
        self.gateway = f"http://127.0.0.1:{self.gateway_port}"
        self.stripe_secret = "whsec_soak_" + uuid.uuid4().hex
        self.clerk_secret = "whsec_" + __import__("base64").b64encode(os.urandom(24)).decode()
        stripe = self.spawn("fake-stripe", [py, "scripts/fake_stripe.py", "--port", "0", "--hosted-pages",
                                            "--chaos", "--chaos-window", "3", "--delivery-workers", "4",
                                            "--retry-scale", "0.25", "--max-attempts", "40"])
        self.stripe = f"http://127.0.0.1:{self.first_lines(stripe, 1, 'fake Stripe')[0].split()[-1]}"
        clerk = self.spawn("fake-clerk", [py, "scripts/fake_clerk.py", "--port", "0", "--webhook-url",
                                          f"{self.gateway}/lambda-url/clerk-webhook/webhooks/clerk",
                                          "--webhook-secret", self.clerk_secret])
        self.clerk = f"http://127.0.0.1:{self.first_lines(clerk, 1, 'fake Clerk')[0].split()[-1]}"
        seeded = subprocess.run([py, "scripts/seed_fake_stripe.py", "--base", self.stripe, "--api-key",
                                 "sk_test_entitle_local", "--catalog", str(Path(a.catalog).resolve())],
                                cwd=REPO, capture_output=True, text=True)
        if seeded.returncode:
            raise RuntimeError(f"seeding the local Stripe failed: {seeded.stderr[-500:]}")
        self.portal_configuration = seeded.stdout.strip()
        status, _, _ = http("POST", f"{self.stripe}/__fake/listen", {
            "url": f"{self.gateway}/lambda-url/stripe-webhook/webhooks/stripe", "secret": self.stripe_secret})
        assert status == 200
        proxy = self.spawn("fault-proxy", [py, "scripts/fault_proxy.py", "--seed", str(a.seed),
                                           "--upstream", f"aws={self.aws['AWS_ENDPOINT_URL']}",
                                           "--upstream", f"stripe={self.stripe}",
                                           "--upstream", f"clerk={self.clerk}"])
        lines = self.first_lines(proxy, 4, "the fault proxy")
        ports = {line.split()[1]: line.split()[2] for line in lines[:3]}
        self.proxy = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        self.proxy_control = f"http://127.0.0.1:{lines[3].split()[1]}"
        self.usage_key = "sk_usage_soak_" + uuid.uuid4().hex[:16]
        self.announcements_queue = self.subscribe_announcements()
        self.start_functions()

    def function_env(self, name: str) -> dict:
        e = self.aws
        env = {
            "AWS_ENDPOINT_URL": self.proxy["aws"],
            "IDEMPOTENCY_TABLE": e["IDEMPOTENCY_TABLE"], "CUSTOMERS_TABLE": e["CUSTOMERS_TABLE"],
            "ENTITLEMENTS_TABLE": e["ENTITLEMENTS_TABLE"], "USAGE_TABLE": e["USAGE_TABLE"],
            "BILLING_EVENTS_TOPIC_ARN": e["BILLING_EVENTS_TOPIC_ARN"],
            "STRIPE_WEBHOOK_SECRET": self.stripe_secret, "CLERK_WEBHOOK_SECRET": self.clerk_secret,
            "STRIPE_SECRET_KEY": "sk_test_entitle_local", "STRIPE_API_BASE": self.proxy["stripe"],
            "STRIPE_PORTAL_CONFIGURATION": self.portal_configuration,
            "CLERK_SECRET_KEY": "sk_test_entitle_local", "CLERK_API_BASE": self.proxy["clerk"],
            "DEAD_LETTER_QUEUE_URL": e["ENTITLEMENT_DLQ_URL"], "ENTITLEMENT_QUEUE_URL": e["ENTITLEMENT_QUEUE_URL"],
            "GRACE_PERIOD_DAYS": "7", "ALLOWED_REDIRECT_ORIGINS": APP_ORIGIN, "ALLOWED_ORIGINS": APP_ORIGIN,
            # Session tokens are verified against the local Clerk's JWKS directly (the sign-in side of Clerk,
            # not its Backend API; the proxy stands in front of the Backend API).
            "CLERK_JWKS_URL": f"{self.clerk}/.well-known/jwks.json", "CLERK_ISSUER": self.clerk,
            "CLERK_AUTHORIZED_PARTIES": APP_ORIGIN, "USAGE_API_KEYS": self.usage_key,
            "PLAN_CATALOG": str(Path(self.args.catalog).resolve()),
            "RUST_LOG": "info",
        }
        points = CRASH_POINTS.get(name, {})
        if self.args.crash_scale > 0 and points:
            env["ENTITLE_CRASH_AT"] = ",".join(
                f"{p}:{min(1.0, rate * self.args.crash_scale):g}" for p, rate in points.items())
        return env

    def start_functions(self) -> None:
        target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
        config = {
            "port": self.gateway_port,
            "logs": str(self.out / "logs"),
            "functions": {name: {"binary": str(target / "debug" / name), "env": self.function_env(name),
                                 "instances": INSTANCES[name], "timeout": TIMEOUTS[name]} for name in FUNCTIONS},
            "sqs": {"function": "entitlement-processor", "queue_url": self.aws["ENTITLEMENT_QUEUE_URL"],
                    "endpoint": self.aws["AWS_ENDPOINT_URL"], "pollers": INSTANCES["entitlement-processor"],
                    "retry_visibility": 2},
        }
        path = self.out / "host.json"
        path.write_text(json.dumps(config, indent=2))
        host = self.spawn("soak-lambda", [sys.executable, "scripts/soak_lambda.py", "--config", str(path)])
        line = self.first_lines(host, 1, "the functions' runner")[0]
        assert line.startswith("gateway "), line

    def boto(self, service: str):
        import boto3

        return boto3.client(service, endpoint_url=self.aws["AWS_ENDPOINT_URL"], region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")

    def subscribe_announcements(self) -> str:
        """A queue of our own on the topic, for every `entitlements.changed` (raw delivery), as a provisioner
        would subscribe."""
        sqs, sns = self.boto("sqs"), self.boto("sns")
        url = sqs.create_queue(QueueName="soak-announcements")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=self.aws["BILLING_EVENTS_TOPIC_ARN"], Protocol="sqs", Endpoint=arn,
                      Attributes={"RawMessageDelivery": "true",
                                  "FilterPolicy": json.dumps({"type": ["entitlements.changed"]})})
        return url

    def faults(self, enabled: bool) -> None:
        rate = self.args.fault_rate
        shares = {"error": rate * 0.4, "throttle": rate * 0.4, "timeout": rate * 0.05, "delay": rate * 0.15}
        services = ("dynamodb", "sns", "sqs", "stripe", "clerk")
        config = {"enabled": enabled, "services": {s: dict(shares) for s in services}}
        http("POST", f"{self.proxy_control}/config", config)

    def calm(self) -> None:
        """The crash points off: every function restarted without ENTITLE_CRASH_AT."""
        status, _, answer = http("POST", f"{self.gateway}/__host/calm", {}, timeout=120)
        if status != 200:
            raise RuntimeError(f"the runner did not calm the functions: {status} {answer}")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, 15)
                except OSError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
        subprocess.run([sys.executable, "scripts/local_aws.py", "stop", "--env-file", str(self.aws_env_file)],
                       cwd=REPO, capture_output=True)


# ------------------------------------------------------------------------------------------------------------
# The customers
# ------------------------------------------------------------------------------------------------------------


class Ledger:
    """The driver's own record: every request's outcome, every allowed consume, every retry."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = Counter()  # route -> count of attempts
        self.answers = Counter()  # (route, status) -> count
        self.retries = Counter()  # route -> retries
        self.actions = Counter()
        self.unexpected = []  # (route, status, body)
        self.violations = []  # (kind, detail)
        self.consumes = []  # dicts: user, feature, counted amount, resetsAt (allowed only)
        self.unsettled = []  # consumes / holds whose final answer is not known yet (retried at convergence)

    def violation(self, kind: str, detail) -> None:
        with self.lock:
            self.violations.append({"kind": kind, "detail": detail})


def rfc3339(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def error_code(answer):
    return answer.get("error", {}).get("code") if isinstance(answer, dict) else None


class Customer:
    def __init__(self, soak, index: int):
        self.soak = soak
        self.index = index
        self.rng = random.Random(soak.args.seed * 100003 + index)
        self.user = None
        self.token = None
        self.has_plan = False
        # An overage customer buys Professional (whose messages the soak's catalog bills beyond the included
        # amount), waits until its entitlements say so, then only consumes messages, in large amounts, so that
        # its counters pass the included amount; it never changes plan, so each of its reset windows is
        # consumed under one limit (the oracle's overage is then exact whatever the order of racing consumes).
        every = soak.args.overage_every
        self.overage = every > 0 and index % every == every - 1
        self.confirmed = False

    # -- calls with retries -------------------------------------------------------------------------------
    def call(self, api: str, method: str, path: str, body=None, key: str | None = None, attempts: int = 10):
        """(status, answer) of a billing-api ('billing') or usage-api ('usage') call, retried on 5xx / no answer
        with the same Idempotency-Key; (None, reason) when every attempt failed."""
        s = self.soak
        url = f"{s.stack.gateway}/lambda-url/{'billing-api' if api == 'billing' else 'usage-api'}{path}"
        headers = {"Authorization": f"Bearer {self.token if api == 'billing' else s.stack.usage_key}"}
        if key and api == "billing":
            headers["Idempotency-Key"] = key
        route = f"{api} {method} {re.sub(r'/u_[^/]+/', '/{id}/', path.split('?')[0])}"
        last = None
        for attempt in range(attempts):
            with s.ledger.lock:
                s.ledger.requests[route] += 1
                if attempt:
                    s.ledger.retries[route] += 1
            try:
                status, _, answer = http(method, url, body, headers, timeout=60)
            except NoAnswer as e:
                status, answer = None, str(e)
            if status is not None:
                with s.ledger.lock:
                    s.ledger.answers[(route, status)] += 1
            if status is not None and status < 500:
                return status, answer
            last = (status, answer)
            time.sleep(min(3.0, 0.2 * 2 ** attempt) * (0.5 + self.rng.random()))
        return None, last

    def expect(self, route: str, status, answer, ok=(200,), refusals=()) -> bool:
        """True on a 2xx; a 4xx whose code is one of `refusals` is a normal answer in a racing life; anything
        else is recorded as unexpected."""
        if status in ok:
            return True
        code = answer.get("error", {}).get("code") if isinstance(answer, dict) else None
        if status is not None and code in refusals:
            return False
        with self.soak.ledger.lock:
            self.soak.ledger.unexpected.append({"route": route, "user": self.user, "status": status,
                                                "answer": answer if status is not None else str(answer)[:300]})
        return False

    # -- the journeys ---------------------------------------------------------------------------------------
    def sign_up(self) -> None:
        s = self.soak
        status, _, user = http("POST", f"{s.stack.clerk}/v1/users", {
            "email_address": [f"soak{self.index}-{s.args.seed}@example.com"], "first_name": f"Soak{self.index}",
            "last_name": "Customer"}, {"Authorization": "Bearer sk_test_entitle_local"})
        assert status == 200, (status, user)
        self.user = user["id"]
        status, _, session = http("POST", f"{s.stack.clerk}/__fake/sessions", {"userId": self.user, "azp": APP_ORIGIN})
        assert status == 200, (status, session)
        self.token = session["token"]
        with s.lock:
            s.users.append(self.user)
            if self.overage:
                s.overage_users.append(self.user)

    def checkout(self, price: str, quantity: int = 1) -> None:
        key = f"checkout-{uuid.uuid4().hex}"
        body = {"price": price, "successUrl": f"{APP_ORIGIN}/?ok", "cancelUrl": f"{APP_ORIGIN}/"}
        if quantity != 1:
            body["quantity"] = quantity
        status, answer = self.call("billing", "POST", "/checkout", body, key)
        if not self.expect("checkout", status, answer, refusals=("subscription_exists", "quantity_not_allowed")):
            if isinstance(answer, dict) and answer.get("error", {}).get("code") == "subscription_exists":
                self.has_plan = True
            return
        declined = self.rng.random() < 0.12
        session = answer["sessionId"]
        page = f"{self.soak.stack.stripe}/checkout/{session}"
        status, headers, html = http("POST", page, {"action": "pay", "card": DECLINED_CARD if declined else GOOD_CARD},
                                     form=True)
        self.soak.count_action("checkout declined" if declined else f"checkout paid ({price})")
        if not declined and status == 303 and price in self.soak.catalog.by_lookup:
            if not self.soak.catalog.plans[self.soak.catalog.by_lookup[price]]["addon"]:
                self.has_plan = True

    def change(self) -> None:
        prices = ["starter_monthly", "pro_monthly", "starter_yearly", "pro_yearly"]
        at = "period_end" if self.rng.random() < 0.4 else "now"
        body = {"price": self.rng.choice(prices), "at": at}
        status, answer = self.call("billing", "POST", "/subscription/change", body, f"change-{uuid.uuid4().hex}")
        refusals = ("already_on_plan", "no_subscription", "subscription_ended", "invalid_option", "no_plan_item",
                    "plan_change_unsupported")  # from or to a plan that bills overage (docs/soak.md)
        if self.expect("change", status, answer, refusals=refusals):
            self.soak.count_action(f"change {at}")
        elif error_code(answer) in ("no_subscription", "subscription_ended"):
            self.has_plan = False

    def cancel(self) -> None:
        now = self.rng.random() < 0.25
        body = {"atPeriodEnd": False} if now else {"atPeriodEnd": True}
        status, answer = self.call("billing", "POST", "/subscription/cancel", body, f"cancel-{uuid.uuid4().hex}")
        if self.expect("cancel", status, answer, refusals=("no_subscription", "subscription_ended")):
            self.soak.count_action("cancel now" if now else "cancel at period end")
            if now:
                self.has_plan = False

    def resume(self) -> None:
        status, answer = self.call("billing", "POST", "/subscription/resume", {}, f"resume-{uuid.uuid4().hex}")
        if self.expect("resume", status, answer, refusals=("no_subscription", "subscription_ended")):
            self.soak.count_action("resume")

    def card(self, failing: bool) -> None:
        status, answer = self.call("billing", "POST", "/portal", {"returnUrl": f"{APP_ORIGIN}/account"},
                                   f"portal-{uuid.uuid4().hex}")
        if not self.expect("portal", status, answer, refusals=("no_customer",)):
            return
        page = urllib.parse.urlsplit(answer["url"]).path
        status, _, _ = http("POST", f"{self.soak.stack.stripe}{page}",
                            {"action": "card-failing" if failing else "card-ok"}, form=True)
        if not failing:
            # The open invoice (a failed renewal), paid with the good card; none open is a normal page error.
            http("POST", f"{self.soak.stack.stripe}{page}", {"action": "pay-invoice"}, form=True)
        self.soak.count_action("card failing" if failing else "card fixed")

    def usage(self) -> None:
        """Consumers racing on one user's counters: plain consumes, holds then commit or release, and replays."""
        threads = [threading.Thread(target=self.consumer, args=(random.Random(self.rng.random()),))
                   for _ in range(self.rng.randint(2, 4))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def consumer(self, rng: random.Random) -> None:
        for _ in range(rng.randint(2, 6)):
            feature = "credits" if rng.random() < 0.25 and not self.overage else "messages_per_day"
            if self.overage:
                amount = rng.randint(200, 1500)
            else:
                amount = rng.randint(1, 40) if feature == "messages_per_day" else rng.randint(10, 300)
            hold = rng.random() < 0.3
            body = {"subject": self.user, "feature": feature, "amount": amount,
                    "idempotencyKey": f"soak-{uuid.uuid4().hex}"}
            if hold:
                body["hold"] = {"seconds": 3600}
            self.soak.consume(self, body, hold, rng)

    def overage_step(self) -> None:
        if not self.has_plan:
            self.checkout("pro_monthly")
            return
        if not self.confirmed:
            status, answer = self.call("billing", "GET", "/entitlements")
            if status == 200 and answer.get("plan") == "professional":
                self.confirmed = True
                self.soak.count_action("overage customer on Professional")
            return
        self.usage()

    def step(self) -> None:
        if self.user is None:
            self.sign_up()
            self.soak.count_action("sign-up")
            return
        if self.overage:
            self.overage_step()
            return
        r = self.rng.random()
        if not self.has_plan and r < 0.35:
            self.checkout(self.rng.choice(["starter_monthly", "pro_monthly", "starter_monthly", "starter_yearly"]))
        elif r < 0.45:
            self.checkout(self.rng.choice(["credits_1000", "credits_5000"]),
                          1 if self.rng.random() < 0.7 else 2)
        elif r < 0.52:
            self.checkout("team_pack_monthly", self.rng.randint(1, 3))
        elif r < 0.62 and self.has_plan:
            self.change()
        elif r < 0.67 and self.has_plan:
            self.cancel()
        elif r < 0.71:
            self.resume()
        elif r < 0.74 and self.has_plan:
            self.card(failing=True)
        elif r < 0.77:
            self.card(failing=False)
        else:
            self.usage()


# ------------------------------------------------------------------------------------------------------------
# The soak
# ------------------------------------------------------------------------------------------------------------


class Soak:
    def __init__(self, args):
        self.args = args
        self.stack = Stack(args)
        self.catalog = Catalog(Path(args.catalog))
        self.overage_limits = {n for p in self.catalog.plans.values() for n in p["overage"]}
        # What a plan that bills overage includes (with up to 10 add-on units): an answer beyond it may be allowed.
        self.overage_included = {p["limits"][n] + k * a["limits"].get(n, 0)
                                 for p in self.catalog.plans.values() for n in p["overage"]
                                 for a in [q for q in self.catalog.plans.values() if q["addon"]] or [{"limits": {}}]
                                 for k in range(11) if isinstance(p["limits"].get(n), int)}
        self.ledger = Ledger()
        self.lock = threading.Lock()
        self.users = []
        self.overage_users = []  # the users of the overage customers
        self.clock_advances = []
        self.with_scheduled_change = set()  # users whose expected entitlements carry a scheduled change

    def count_action(self, name: str) -> None:
        with self.ledger.lock:
            self.ledger.actions[name] += 1

    # -- usage ------------------------------------------------------------------------------------------------
    def consume(self, customer: Customer, body: dict, hold: bool, rng: random.Random) -> None:
        status, answer = customer.call("usage", "POST", "/v1/usage", body, attempts=6)
        if status is None:
            with self.ledger.lock:
                self.ledger.unsettled.append({"customer": customer, "body": body, "hold": hold, "commit": None})
            return
        if not customer.expect("usage", status, answer):
            return
        self.check_answer(customer.user, body, answer)
        # A replay: an allowed request's key and body answer the same, and count nothing more. A refusal
        # records nothing (docs/usage.md), so its replay is decided afresh — and counts if allowed now.
        if rng.random() < 0.3:
            again, replay = customer.call("usage", "POST", "/v1/usage", body, attempts=6)
            if again == 200 and answer.get("allowed") and replay != answer:
                self.ledger.violation("replay answered differently", {"body": body, "first": answer, "replay": replay})
            elif again == 200 and not answer.get("allowed"):
                self.check_answer(customer.user, body, replay)
                answer = replay
            elif again is None:
                with self.ledger.lock:
                    self.ledger.unsettled.append({"customer": customer, "body": body, "hold": hold, "commit": None,
                                                  "after": answer})
                return
        if not answer.get("allowed"):
            return
        if not hold:
            self.allowed(customer.user, body["feature"], body["amount"], answer)
            return
        usage_id = answer.get("usageId")
        commit = rng.random() < 0.7
        amount = rng.randint(0, body["amount"]) if commit else None
        self.settle(customer, usage_id, body, amount, answer)

    def settle(self, customer: Customer, usage_id: str, body: dict, amount, first: dict, attempts: int = 6) -> bool:
        path = f"/v1/usage/{usage_id}/{'commit' if amount is not None else 'release'}"
        status, answer = customer.call("usage", "POST", path, {"amount": amount} if amount is not None else {},
                                       attempts=attempts)
        if status is None:
            with self.ledger.lock:
                self.ledger.unsettled.append({"customer": customer, "usage_id": usage_id, "body": body,
                                              "amount": amount, "first": first})
            return False
        if customer.expect("settle", status, answer):
            # A hold's overage is decided when it is committed, under the limit of that moment.
            limit = answer.get("limit", first.get("limit")) if isinstance(answer, dict) else first.get("limit")
            self.allowed(customer.user, body["feature"], amount or 0, first, limit)
        return True

    def allowed(self, user: str, feature: str, amount: int, answer: dict, limit=None) -> None:
        with self.ledger.lock:
            self.ledger.consumes.append({"user": user, "feature": feature, "amount": amount,
                                         "resetsAt": answer.get("resetsAt"),
                                         "limit": answer.get("limit") if limit is None else limit})

    def check_answer(self, user: str, body: dict, answer: dict) -> None:
        """At every instant: used + live holds <= limit (metered), and credits never below zero."""
        if not answer.get("allowed"):
            return
        limit = answer.get("limit")
        used = answer.get("used", 0) or 0
        # `used` counts the live holds (`held` is their part of it).
        if isinstance(limit, int) and answer.get("kind") in ("metered", "allocated") and used > limit:
            # Beyond the included amount only on a plan that bills it (then the answer says how much of this
            # request is overage; the meter-event check below adds them up independently).
            if not (answer.get("kind") == "metered" and body["feature"] in self.overage_limits
                    and limit in self.overage_included):
                self.ledger.violation("over the limit", {"user": user, "answer": answer})
        remaining = answer.get("remaining")
        if isinstance(remaining, int) and remaining < 0:
            self.ledger.violation("negative remaining", {"user": user, "answer": answer})

    def resolve_unsettled(self) -> None:
        """After the faults: every consume and settle whose answer was never known, retried to a final answer
        with the same key (a replay if it had been applied)."""
        pending, self.ledger.unsettled = self.ledger.unsettled, []
        for item in pending:
            customer = item["customer"]
            if "usage_id" in item:
                self.settle(customer, item["usage_id"], item["body"], item["amount"], item["first"], attempts=20)
                continue
            status, answer = customer.call("usage", "POST", "/v1/usage", item["body"], attempts=20)
            if status != 200:
                self.ledger.violation("consume never answered", {"body": item["body"], "status": status})
                continue
            self.check_answer(customer.user, item["body"], answer)
            if answer.get("allowed"):
                if item["hold"]:
                    self.settle(customer, answer["usageId"], item["body"], None, answer, attempts=20)
                else:
                    self.allowed(customer.user, item["body"]["feature"], item["body"]["amount"], answer)
        if self.ledger.unsettled:
            for item in self.ledger.unsettled:
                self.ledger.violation("settle never answered", {"usage": item.get("usage_id")})
            self.ledger.unsettled = []

    # -- the run ----------------------------------------------------------------------------------------------
    def run_customers(self) -> float:
        a = self.args
        customers = [Customer(self, i) for i in range(a.customers)]
        deadline = time.monotonic() + a.duration
        schedule = [(time.monotonic() + i * min(0.05, a.duration / 4 / max(1, a.customers)), c)
                    for i, c in enumerate(customers)]
        cond = threading.Condition()
        errors = []

        def worker():
            while True:
                with cond:
                    while True:
                        if time.monotonic() >= deadline:
                            return
                        schedule.sort(key=lambda x: x[0])
                        if schedule and schedule[0][0] <= time.monotonic():
                            _, customer = schedule.pop(0)
                            break
                        cond.wait(0.05)
                try:
                    customer.step()
                except Exception as e:  # noqa: BLE001 - a driver bug: recorded, the soak goes on
                    errors.append(repr(e))
                    if len(errors) <= 5:
                        log(f"driver error: {e!r}")
                with cond:
                    schedule.append((time.monotonic() + customer.rng.uniform(0.2, 1.5), customer))
                    cond.notify()

        clock = threading.Thread(target=self.clock, args=(deadline,), daemon=True)
        started = time.monotonic()
        clock.start()
        threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.concurrency)]
        for t in threads:
            t.start()
        last = started
        while any(t.is_alive() for t in threads):
            time.sleep(1)
            if time.monotonic() - last >= 15:
                last = time.monotonic()
                with self.ledger.lock:
                    n = sum(self.ledger.requests.values())
                log(f"{last - started:.0f} s: {len(self.users)} customers, {n} requests, "
                    f"{len(self.ledger.violations)} violations so far")
        clock.join()
        if errors:
            self.ledger.violation("driver errors", errors[:20])
        return time.monotonic() - started

    def clock(self, deadline: float) -> None:
        """Stripe's test clock, advanced a few times: renewals, failed renewals and dunning, period ends."""
        steps = self.args.clock_steps
        start = time.monotonic()
        span = deadline - start
        for i in range(steps):
            due = start + span * (i + 1) / (steps + 1)
            time.sleep(max(0.0, due - time.monotonic()))
            days = self.args.clock_days
            status, _, answer = http("POST", f"{self.stack.stripe}/__fake/clock/advance", {"days": days}, timeout=300)
            actions = Counter(a.get("action") for a in (answer or {}).get("actions", [])) if status == 200 else {}
            self.clock_advances.append({"days": days, "status": status, "actions": dict(actions)})
            log(f"clock +{days} days: {dict(actions)}")

    # -- convergence ------------------------------------------------------------------------------------------
    def queue_depth(self, sqs, url: str) -> int:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def deliveries_pending(self) -> tuple:
        """(Stripe events not yet delivered, Clerk webhooks still being retried)."""
        _, _, events = http("GET", f"{self.stack.stripe}/__fake/events", timeout=60)
        stripe_pending = sum(1 for e in events if e.get("pending_webhooks"))
        _, _, deliveries = http("GET", f"{self.stack.clerk}/__fake/deliveries", timeout=60)
        final = {}
        for d in deliveries:
            ok = d.get("ok")
            if ok is None:
                ok = isinstance(d.get("status"), int) and 200 <= d["status"] < 300
            final[d["event"]] = final.get(d["event"], False) or ok
        clerk_pending = sum(1 for ok in final.values() if not ok)
        return stripe_pending, clerk_pending

    def converge(self, timeout: float) -> dict:
        sqs = self.stack.boto("sqs")
        queue = self.stack.aws["ENTITLEMENT_QUEUE_URL"]
        started = time.monotonic()
        quiet_since = None
        state = {}
        while time.monotonic() - started < timeout:
            stripe_pending, clerk_pending = self.deliveries_pending()
            depth = self.queue_depth(sqs, queue)
            state = {"stripe_pending": stripe_pending, "clerk_pending": clerk_pending, "queue": depth}
            if stripe_pending == 0 and clerk_pending == 0 and depth == 0:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= 3:
                    mismatches = self.entitlement_mismatches()
                    state["mismatches"] = len(mismatches)
                    if not mismatches:
                        return {"converged": True, "seconds": round(quiet_since - started, 1), **state}
                    quiet_since = None
            else:
                quiet_since = None
            time.sleep(1)
        return {"converged": False, "seconds": round(time.monotonic() - started, 1), **state}

    # -- the oracle -------------------------------------------------------------------------------------------
    def stripe_get(self, path: str):
        status, _, answer = http("GET", f"{self.stack.stripe}{path}", headers={
            "Authorization": "Bearer sk_test_entitle_local"}, timeout=60)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {answer}")
        return answer

    def stripe_state(self) -> dict:
        """Per user: their customers, subscriptions (with schedules) and credit purchases, from the fake's own
        records."""
        _, _, customers = http("GET", f"{self.stack.stripe}/__fake/customers", timeout=60)
        by_user = defaultdict(list)
        owner = {}
        for c in customers:
            if c.get("deleted"):
                continue
            uid = (c.get("metadata") or {}).get("clerkUserId")
            if uid:
                by_user[uid].append(c["id"])
                owner[c["id"]] = uid
        # Per customer (each has a handful): the stand-in's subscription list answers the first `limit` only.
        subs = defaultdict(list)
        for customer, uid in owner.items():
            page = self.stripe_get(f"/v1/subscriptions?customer={customer}&status=all&limit=100")
            if page.get("has_more"):
                raise RuntimeError(f"{customer} has more than 100 subscriptions")
            subs[uid].extend(page["data"])
        _, _, events = http("GET", f"{self.stack.stripe}/__fake/events", timeout=60)
        purchased = defaultdict(int)
        seen = set()
        for e in events:
            if e["type"] != "checkout.session.completed":
                continue
            session = e["data"]["object"]
            if session["id"] in seen or session.get("mode") != "payment" or session.get("payment_status") != "paid":
                continue
            seen.add(session["id"])
            uid = owner.get(session.get("customer")) or (session.get("metadata") or {}).get("userId")
            items = self.stripe_get(f"/v1/checkout/sessions/{session['id']}/line_items")
            for item in items["data"]:
                credits = self.catalog.packs.get(item["price"].get("lookup_key"))
                if credits:
                    purchased[uid] += credits * item["quantity"]
        return {"customers": by_user, "subscriptions": subs, "purchased": purchased}

    def expected(self, user: str, subs: list, credits: int) -> dict:
        cat = self.catalog
        candidates, addons = [], []
        for s in subs:
            if s["status"] not in LIVE:
                continue
            base = None
            for item in s["items"]["data"]:
                plan_id = cat.by_lookup.get(item["price"].get("lookup_key"))
                if plan_id is None:
                    continue
                plan = cat.plans[plan_id]
                if plan["addon"]:
                    addons.append((plan_id, item["quantity"]))
                elif base is None or plan["rank"] > base["rank"]:
                    base = plan
            if base:
                candidates.append((s, base))

        def standing(s):
            return 0 if s["status"] == "past_due" else 1 if s.get("cancel_at_period_end") else 2

        def period_end(s):
            return s["items"]["data"][0].get("current_period_end") or 0

        chosen = None
        for s, base in candidates:
            k = (base["rank"], standing(s), period_end(s))
            if chosen is None or k > chosen[0] or (k == chosen[0] and s["id"] < chosen[1]["id"]):
                chosen = (k, s, base)
        if chosen:
            _, s, base = chosen
            status = ("past_due" if s["status"] == "past_due" else "canceling" if s.get("cancel_at_period_end")
                      else "trialing" if s["status"] == "trialing" else "active")
            sub_id = s["id"]
            end = period_end(s)
            period = rfc3339(end) if end else None
            scheduled = None if s.get("cancel_at_period_end") else self.scheduled_change(s.get("schedule"))
        else:
            base, status, sub_id, period, scheduled = cat.free, "free", None, None, None
        features, limits = cat.grant(base, addons)
        return {"plan": base["id"], "status": status, "features": sorted(features), "limits": limits,
                "subscriptionId": sub_id, "periodEnd": period, "scheduledChange": scheduled,
                "addons": sorted(addons), "credits": credits}

    def scheduled_change(self, schedule_id):
        """The plan change the subscription's schedule makes at the period end (the phase after the current
        one): {plan (its first item on a base plan; None for a price the catalog lacks), at}, or None."""
        if not schedule_id:
            return None
        schedule = self.stripe_get(f"/v1/subscription_schedules/{schedule_id}?expand[]=phases.items.price")
        if schedule.get("status") not in ("not_started", "active") or not schedule.get("current_phase"):
            return None
        end = schedule["current_phase"]["end_date"]
        phase = next((ph for ph in schedule.get("phases", []) if ph["start_date"] >= end), None)
        if phase is None or not phase.get("items"):
            return None
        plan = None
        for item in phase["items"]:
            price = item["price"] if isinstance(item["price"], dict) else self.stripe_get(f"/v1/prices/{item['price']}")
            plan_id = self.catalog.by_lookup.get(price.get("lookup_key"))
            if plan_id and not self.catalog.plans[plan_id]["addon"]:
                plan = plan_id
                break
        return {"plan": plan, "at": rfc3339(phase["start_date"])}

    def entitlement_mismatches(self) -> list:
        state = self.stripe_state()
        spent = defaultdict(int)
        for c in self.ledger.consumes:
            if c["feature"] == "credits":
                spent[c["user"]] += c["amount"]
        mismatches = []
        for user in self.users:
            want = self.expected(user, state["subscriptions"].get(user, []),
                                 state["purchased"].get(user, 0) - spent[user])
            status, answer = self.read(f"/v1/entitlements?subject={user}")
            if status != 200:
                mismatches.append({"user": user, "status": status, "answer": answer})
                continue
            have = {"plan": answer.get("plan"), "status": answer.get("status"),
                    "features": sorted(answer.get("features") or []), "limits": answer.get("limits"),
                    "subscriptionId": answer.get("subscriptionId"), "periodEnd": answer.get("periodEnd"),
                    "scheduledChange": ({k: answer["scheduledChange"].get(k) for k in ("plan", "at")}
                                        if answer.get("scheduledChange") else None),
                    "addons": sorted((a["plan"], a["quantity"]) for a in answer.get("addons") or []),
                    "credits": answer.get("credits")}
            if have != want:
                mismatches.append({"user": user, "want": want, "have": have})
            if want["scheduledChange"]:
                self.with_scheduled_change.add(user)
        self.last_state = state
        return mismatches

    def read(self, path: str):
        for _ in range(10):
            try:
                status, _, answer = http("GET", f"{self.stack.gateway}/lambda-url/usage-api{path}",
                                         headers={"Authorization": f"Bearer {self.stack.usage_key}"}, timeout=60)
            except NoAnswer as e:
                status, answer = None, str(e)
            if status is not None and status < 500:
                return status, answer
            time.sleep(0.5)
        return status, answer

    def oracle(self) -> dict:
        checks = {}
        # 1. Entitlements = what the Stripe state means.
        self.with_scheduled_change = set()
        mismatches = self.entitlement_mismatches()
        for m in mismatches[:20]:
            self.ledger.violation("entitlements differ from Stripe", m)
        if len(mismatches) > 20:
            self.ledger.violation("entitlements differ from Stripe", f"... and {len(mismatches) - 20} more")
        checks["entitlements_checked"] = len(self.users)
        checks["scheduled_changes_checked"] = len(self.with_scheduled_change)
        state = self.last_state
        # 2. Exactly one Stripe customer per user.
        counts = Counter({u: len(state["customers"].get(u, [])) for u in self.users})
        bad = {u: n for u, n in counts.items() if n != 1}
        for u, n in bad.items():
            self.ledger.violation("not exactly one Stripe customer", {"user": u, "customers": n})
        checks["customers_per_user"] = dict(Counter(counts.values()))
        # 3. Counters = the allowed consumes, held = 0 (every hold settled); credits checked with the
        #    entitlements above (purchases - allowed spends).
        allowed = defaultdict(int)
        for c in self.ledger.consumes:
            if c["feature"] == "messages_per_day":
                allowed[(c["user"], c["resetsAt"])] += c["amount"]
        counters = 0
        for user in self.users:
            status, answer = self.read(f"/v1/usage?subject={user}")
            if status != 200:
                self.ledger.violation("usage unreadable", {"user": user, "status": status})
                continue
            lines = answer.get("features") or answer.get("usage") or answer.get("lines") or []
            if isinstance(lines, dict):
                lines = [{"feature": k, **v} for k, v in lines.items()]
            for line in lines:
                if line.get("feature") != "messages_per_day":
                    continue
                counters += 1
                want = allowed.get((user, line.get("resetsAt")), 0)
                if line.get("used") != want or (line.get("held") or 0) != 0:
                    self.ledger.violation("counter differs from the allowed consumes", {
                        "user": user, "want_used": want, "line": line})
        checks["counters_checked"] = counters
        checks["allowed_consumes"] = len(self.ledger.consumes)
        # 4. Meter events: each identifier once, and per subject their values sum to the overage computed from
        #    the driver's own log of allowed consumes and commits.
        checks["meter_events"] = self.check_meter_events(state)
        # 5. entitlements.changed: one content per version, no version missing, the last one the final state.
        checks["announcements"] = self.check_announcements()
        return checks

    def expected_overage(self) -> tuple:
        """Per user, the overage of their allowed message consumes (docs/usage.md "Overage"): within each reset
        window, what is committed beyond the included amount. Under one limit L for the whole window that is
        max(0, total - L) whatever the order of racing writers (each commit bills its part beyond L, and the
        parts add up). A window whose answers showed different limits (a plan or add-on change within it) is
        still exact when its total stays within the smallest limit seen that an overage plan could grant (only
        a consume under such a limit can be overage, and only beyond it; none seen: 0); otherwise it cannot be
        told from the log and is reported as a violation. Answers ({user: overage}, {"windows": n,
        "windows_over": n, "undetermined": [...]})."""
        cat = self.catalog
        metered = [name for name, kind in cat.kinds.items() if kind == "metered"]
        billed = {}  # limit name -> the included amounts of base plans that bill it (add-ons add whole units)
        for name in metered:
            bases = [p["limits"][name] for p in cat.plans.values()
                     if name in p["overage"] and isinstance(p["limits"].get(name), int)]
            packs = sorted({p["limits"][name] for p in cat.plans.values()
                            if p["addon"] and isinstance(p["limits"].get(name), int) and p["limits"][name] > 0})
            billed[name] = (bases, packs)

        def could_bill(name: str, limit) -> bool:
            if not isinstance(limit, int):
                return False
            bases, packs = billed[name]
            return any(limit >= b and (limit - b == 0 or any((limit - b) % q == 0 for q in packs)) for b in bases)

        windows = defaultdict(lambda: {"total": 0, "limits": set()})
        for c in self.ledger.consumes:
            if c["feature"] in metered:
                w = windows[(c["user"], c["feature"], c["resetsAt"])]
                w["total"] += c["amount"]
                w["limits"].add(c.get("limit") if isinstance(c.get("limit"), int) else str(c.get("limit")))
        expected = defaultdict(int)
        over, undetermined = 0, []
        for (user, name, resets), w in windows.items():
            limits = w["limits"]
            if len(limits) == 1 and isinstance(next(iter(limits)), int):
                extra = max(0, w["total"] - next(iter(limits)))
            elif w["total"] <= min((x for x in limits if could_bill(name, x)), default=float("inf")):
                # Only a consume under a limit that bills can be overage, and only beyond that limit.
                extra = 0
            else:
                undetermined.append({"user": user, "feature": name, "resetsAt": resets, "total": w["total"],
                                     "limits": sorted(map(str, limits))})
                continue
            if extra:
                over += 1
                expected[user] += extra
        return dict(expected), {"windows": len(windows), "windows_over": over, "undetermined": undetermined}

    def check_meter_events(self, state: dict) -> dict:
        _, _, meter_events = http("GET", f"{self.stack.stripe}/__fake/meter_events", timeout=60)
        ids = Counter(e.get("identifier") for e in meter_events)
        for ident, n in ids.items():
            if n > 1:
                self.ledger.violation("meter event identifier sent twice", {"identifier": ident, "count": n})
        owner = {c: u for u, cs in state["customers"].items() for c in cs}
        sent = defaultdict(int)
        for e in meter_events:
            payload = e.get("payload") or {}
            user = owner.get(payload.get("stripe_customer_id"))
            if user is None:
                self.ledger.violation("meter event for no soak customer", e)
                continue
            if e.get("event_name") != "entitle_messages_per_day":
                self.ledger.violation("meter event on an unexpected meter", e)
            sent[user] += int(payload.get("value", 0))
        expected, windows = self.expected_overage()
        for w in windows["undetermined"]:
            self.ledger.violation("overage window not determinable from the log", w)
        undetermined = {w["user"] for w in windows["undetermined"]}
        subjects = 0
        for user in sorted(set(expected) | set(sent)):
            if user in undetermined:
                continue
            subjects += 1
            if sent.get(user, 0) != expected.get(user, 0):
                self.ledger.violation("meter events differ from the overage", {
                    "user": user, "sent": sent.get(user, 0), "expected_overage": expected.get(user, 0)})
        overage_customers = sum(1 for u in self.overage_users if u in expected)
        return {"count": len(meter_events), "distinct_identifiers": len(ids), "sum": sum(sent.values()),
                "expected_overage": sum(expected.values()), "subjects_checked": subjects,
                "overage_customers_over": f"{overage_customers}/{len(self.overage_users)}",
                "windows": windows["windows"], "windows_over": windows["windows_over"]}

    def check_announcements(self) -> dict:
        sqs = self.stack.boto("sqs")
        url = self.stack.announcements_queue
        bodies = defaultdict(set)
        copies = Counter()
        empty = 0
        while empty < 3:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            if not got:
                empty += 1
                continue
            empty = 0
            for m in got:
                event = json.loads(m["Body"])
                data = event.get("data") or {}
                bodies[event["id"]].add(json.dumps(data.get("current"), sort_keys=True))
                copies[event["id"]] += 1
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
        versions = defaultdict(set)
        for ident, contents in bodies.items():
            match = re.fullmatch(r"entitlements-(.+)-v(\d+)", ident)
            if not match:
                self.ledger.violation("entitlements.changed id not per version", ident)
                continue
            versions[match.group(1)].add(int(match.group(2)))
            if len(contents) != 1:
                self.ledger.violation("one version announced with different contents", {"id": ident})
        gaps = 0
        for user, vs in versions.items():
            missing = set(range(min(vs), max(vs) + 1)) - vs
            if missing:
                gaps += 1
                self.ledger.violation("entitlements versions never announced",
                                      {"user": user, "missing": sorted(missing)})
        return {"versions": sum(len(v) for v in versions.values()), "ids": len(bodies),
                "deliveries": sum(copies.values()), "redelivered_ids": sum(1 for n in copies.values() if n > 1),
                "users_with_gaps": gaps}

    def dead_letters(self) -> dict:
        """The DLQ: empty, or each message explained (its reason attribute) and redriven with the CLI."""
        sqs = self.stack.boto("sqs")
        dlq = self.stack.aws["ENTITLEMENT_DLQ_URL"]
        depth = self.queue_depth(sqs, dlq)
        result = {"dead_letters": depth, "reasons": {}}
        if not depth:
            return result
        reasons = Counter()
        got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                  VisibilityTimeout=0, WaitTimeSeconds=1).get("Messages", [])
        for m in got:
            attrs = m.get("MessageAttributes") or {}
            reason = next((v.get("StringValue") for k, v in attrs.items() if "reason" in k.lower()), None)
            reasons[reason or "(no reason: redriven by SQS after maxReceiveCount)"] += 1
        result["reasons"] = dict(reasons)
        env = {**os.environ, **self.stack.function_env("entitlement-processor")}
        env.pop("ENTITLE_CRASH_AT", None)
        env["AWS_ENDPOINT_URL"] = self.stack.aws["AWS_ENDPOINT_URL"]
        env["STRIPE_API_BASE"] = self.stack.stripe
        env["CLERK_API_BASE"] = self.stack.clerk
        env.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"})
        target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
        r = subprocess.run([str(target / "debug" / "entitle"), "dlq", "redrive", "--json"], env=env, cwd=REPO,
                           capture_output=True, text=True, timeout=300)
        result["redrive"] = {"exit": r.returncode, "output": r.stdout[-2000:], "stderr": r.stderr[-1000:]}
        after = self.queue_depth(sqs, dlq)
        result["after_redrive"] = after
        if r.returncode or after:
            self.ledger.violation("dead letters not redriven", result)
        return result

    def figures(self, run_seconds: float) -> dict:
        _, _, proxy = http("GET", f"{self.stack.proxy_control}/stats")
        _, _, host = http("GET", f"{self.stack.gateway}/__host/stats")
        _, _, events = http("GET", f"{self.stack.stripe}/__fake/events", timeout=60)
        _, _, stripe_deliveries = http("GET", f"{self.stack.stripe}/__fake/deliveries", timeout=60)
        _, _, clerk_deliveries = http("GET", f"{self.stack.clerk}/__fake/deliveries", timeout=60)
        services = {}
        def failed(faults: dict) -> int:  # a delayed call succeeds: not a failure
            return sum(n for kind, n in faults.items() if kind != "delay")

        for name, s in proxy["services"].items():
            services[name] = {"calls": s["calls"], "faults": s["faults"],
                              "failed_share": round(failed(s["faults"]) / s["calls"], 4) if s["calls"] else 0}
        aws = {"calls": 0, "faults": Counter()}
        for name in ("dynamodb", "sns", "sqs", "secretsmanager"):
            if name in services:
                aws["calls"] += services[name]["calls"]
                aws["faults"].update(services[name]["faults"])
        services["aws (all)"] = {"calls": aws["calls"], "faults": dict(aws["faults"]),
                                 "failed_share": round(failed(aws["faults"]) / aws["calls"], 4) if aws["calls"] else 0}
        requests = sum(self.ledger.requests.values())
        invocations = sum(host["invocations"].values())
        stripe_retries = sum(1 for d in stripe_deliveries if d["attempt"] > 1)
        clerk_retries = sum(1 for d in clerk_deliveries if d.get("attempt", 1) > 1)
        return {
            "customers": len(self.users), "run_seconds": round(run_seconds, 1),
            "actions": dict(self.ledger.actions),
            "driver_requests": requests, "driver_requests_per_s": round(requests / run_seconds, 1),
            "invocations": host["invocations"], "invocations_per_s": round(invocations / run_seconds, 1),
            "stripe_events": len(events), "stripe_deliveries": len(stripe_deliveries),
            "stripe_events_per_s": round(len(events) / run_seconds, 2),
            "clerk_webhook_attempts": len(clerk_deliveries),
            "queue_records": host["sqs"], "processor_records_per_s": round(
                host["sqs"].get("received", 0) / run_seconds, 1),
            "faults": services,
            "retries": {"driver": dict(self.ledger.retries), "stripe_webhook_redeliveries": stripe_retries,
                        "clerk_webhook_redeliveries": clerk_retries,
                        "queue_redeliveries": host["sqs"].get("retried", 0)},
            "crashes": host["crash_points"], "exits": host["exits"], "timeouts": host["timeouts"],
            "answers": {f"{r} {s}": n for (r, s), n in sorted(self.ledger.answers.items(), key=str)},
            "unexpected_answers": len(self.ledger.unexpected), "clock": self.clock_advances,
        }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=int(os.environ.get("CUSTOMERS", 200)))
    parser.add_argument("--duration", type=float, default=float(os.environ.get("DURATION", 300)))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SEED", 1)))
    parser.add_argument("--concurrency", type=int, default=16, help="driver threads")
    parser.add_argument("--fault-rate", type=float, default=0.1,
                        help="share of each service's calls that fail (85 %%: 5xx, throttled, timed out) or are "
                             "delayed (15 %%)")
    parser.add_argument("--crash-scale", type=float, default=1.0, help="multiplies each crash point's probability")
    parser.add_argument("--clock-steps", type=int, default=3)
    # 3 x 11 days: the functions' clock is the wall clock and the local Stripe's is advanced; Stripe refuses a
    # meter event whose timestamp is more than 35 days before its now, so the advances stay below 35 days in all.
    parser.add_argument("--clock-days", type=float, default=11)
    parser.add_argument("--converge-timeout", type=float, default=300)
    parser.add_argument("--require", action="store_true",
                        help="fail unless >= 5%% of each service's calls failed and every crash point fired")
    parser.add_argument("--out", default=str(REPO / ".local" / "soak"))
    parser.add_argument("--catalog", default=str(REPO / "fixtures" / "catalog" / "soak.toml"),
                        help="the plan catalog (PLAN_CATALOG of every function, seeded into the local Stripe)")
    parser.add_argument("--overage-every", type=int, default=5,
                        help="every Nth customer is an overage customer: Professional, then consumes past it")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for old in (out / "logs").glob("*.log") if (out / "logs").exists() else []:
        old.unlink()
    if not args.no_build:
        log("building the functions and the CLI (debug)...")
        subprocess.run(["cargo", "build", "--locked", "-q", *[x for f in FUNCTIONS for x in ("-p", f)],
                        "-p", "entitle-cli"], cwd=REPO, check=True)
    # `make soak` stopped (SIGTERM, or SIGINT when run in the background): stop everything it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    soak = Soak(args)
    stack = soak.stack
    try:
        t0 = time.monotonic()
        stack.start()
        log(f"stack up in {time.monotonic() - t0:.1f} s: gateway {stack.gateway}, Stripe {stack.stripe}, "
            f"Clerk {stack.clerk}, proxy {stack.proxy}")
        stack.faults(True)
        log(f"{args.customers} customers for {args.duration:.0f} s, {args.fault_rate:.0%} of calls faulted, "
            f"crash points x{args.crash_scale:g}")
        run_seconds = soak.run_customers()
        stack.faults(False)
        stack.calm()
        log("faults and crash points off; settling the consumes still unanswered, then converging")
        t_calm = time.monotonic()
        soak.resolve_unsettled()
        convergence = soak.converge(args.converge_timeout)
        convergence["seconds_after_faults"] = round(time.monotonic() - t_calm, 1)
        dlq = soak.dead_letters()
        if dlq["dead_letters"]:
            convergence["after_redrive"] = soak.converge(args.converge_timeout)
        if not convergence.get("converged"):
            soak.ledger.violation("did not converge", convergence)
        checks = soak.oracle()
        figures = soak.figures(run_seconds)
        figures.update({"convergence": convergence, "dead_letter_queue": dlq, "checks": checks})
        violations = soak.ledger.violations
        missing = []
        if args.require:
            for name in ("aws (all)", "stripe", "clerk"):
                share = figures["faults"].get(name, {}).get("failed_share", 0)
                if share < 0.05:
                    missing.append(f"{name}: only {share:.1%} of calls failed")
            for points in CRASH_POINTS.values():
                for point in points:
                    if figures["crashes"].get(point, 0) < 1:
                        missing.append(f"crash point {point} never fired")
        figures["violations"] = len(violations)
        figures["requirements_unmet"] = missing
        report = {"figures": figures, "violations": violations,
                  "unexpected_answers": soak.ledger.unexpected[:200]}
        (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
        print_figures(figures)
        for v in violations[:30]:
            log(f"VIOLATION {v['kind']}: {json.dumps(v['detail'], default=str)[:600]}")
        for m in missing:
            log(f"NOT REACHED: {m}")
        log(f"report: {out / 'report.json'}; logs in {out}")
        return 1 if violations or missing else 0
    finally:
        stack.stop()


def print_figures(f: dict) -> None:
    log("---- figures ----")
    log(f"customers {f['customers']}, run {f['run_seconds']} s; driver requests {f['driver_requests']} "
        f"({f['driver_requests_per_s']}/s), function invocations {sum(f['invocations'].values())} "
        f"({f['invocations_per_s']}/s)")
    log(f"Stripe events {f['stripe_events']} ({f['stripe_events_per_s']}/s), deliveries {f['stripe_deliveries']}; "
        f"Clerk webhook attempts {f['clerk_webhook_attempts']}; queue records {f['queue_records']} "
        f"({f['processor_records_per_s']}/s)")
    for name, s in f["faults"].items():
        log(f"faults {name}: {s['faults']} of {s['calls']} calls ({s['failed_share']:.1%} failed)")
    log(f"retries: {f['retries']}")
    log(f"crashes per point: {f['crashes']}; timeouts {f['timeouts']}")
    c = f["convergence"]
    log(f"converged: {c.get('converged')} in {c.get('seconds_after_faults')} s after the faults stopped")
    log(f"dead letters: {f['dead_letter_queue']}")
    log(f"checks: {json.dumps(f['checks'])}")
    log(f"unexpected answers: {f['unexpected_answers']}; VIOLATIONS: {f['violations']}")


if __name__ == "__main__":
    sys.exit(main())
