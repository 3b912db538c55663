#!/usr/bin/env python3
"""The functions' runner for `make soak` (scripts/soak.py): Lambda's part, locally, for the built binaries.

    .venv/bin/python scripts/soak_lambda.py --config .local/soak/host.json

The configuration (JSON) names each function's binary, environment, number of instances (concurrent execution
environments) and timeout, and the SQS queue to feed to the processor:

    {"functions": {"billing-api": {"binary": "target/debug/billing-api", "env": {...}, "instances": 2,
                                   "timeout": 15}, ...},
     "sqs": {"function": "entitlement-processor", "queue_url": "...", "endpoint": "...", "pollers": 2,
             "retry_visibility": 2}, "logs": ".local/soak/logs"}

What it does, as Lambda would:
  * Each instance is one process of the binary with a Lambda-shaped environment (scripts/cold_start.py's) and its
    own Runtime API (`AWS_LAMBDA_RUNTIME_API`): `GET /2018-06-01/runtime/invocation/next` hands it the next
    invocation of its function, `POST .../{id}/response|error` completes it. One invocation at a time per
    instance.
  * A process that exits (a crash: `ENTITLE_CRASH_AT`'s abort, a panic) fails the invocation it held — the
    caller gets a 502, as from API Gateway — and is started again (a new cold start); one that overruns the
    function's timeout is killed (SIGKILL) and started again, its caller answered 503. Each exit is counted, by
    the crash point the process printed (`ENTITLE_CRASH point=<name>`, crates/core/src/crash.rs) or as
    `timeout` / `exit`.
  * HTTP: `http://127.0.0.1:<gateway>/lambda-url/<function>/<path>` becomes an API Gateway HTTP API (v2) event,
    the function's answer the HTTP reply (the path scheme of `cargo lambda watch`, which `make dev` uses);
    `POST /2015-03-31/functions/<function>/invocations` is Lambda's Invoke (the answer, or the error with
    `X-Amz-Function-Error`).
  * SQS: `pollers` threads receive up to 10 messages from the queue (long poll), invoke the function with the
    SQS event, delete what the answer does not list in `batchItemFailures`; what it lists, or a whole failed
    batch, becomes visible again after `retry_visibility` seconds (the queue's VisibilityTimeout, 180 s, would
    hold a soak's convergence for minutes; each receive still counts toward the queue's redrive to the DLQ).
  * `GET /__host/stats`: invocations, errors and exits per function and per crash point, restarts.
Prints `gateway <port>` once every instance has polled for its first invocation.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bridge import sqs_record  # noqa: E402  (the SQS event's record shape, as make dev's bridge sends it)
from cold_start import lambda_env  # noqa: E402

RUNTIME = "/2018-06-01/runtime"
CRASH_LINE = re.compile(r"ENTITLE_CRASH point=([a-z_]+)")
STATS_LOCK = threading.Lock()
STATS = {"invocations": defaultdict(int), "errors": defaultdict(int), "exits": defaultdict(int),
         "crash_points": defaultdict(int), "timeouts": defaultdict(int), "restarts": defaultdict(int),
         "sqs": defaultdict(int)}


def count(kind: str, key: str, n: int = 1) -> None:
    with STATS_LOCK:
        STATS[kind][key] += n


class Invocation:
    def __init__(self, function: str, payload: bytes, timeout: float):
        self.id = str(uuid.uuid4())
        self.function = function
        self.payload = payload
        self.timeout = timeout
        self.deadline = None  # set when an instance takes it
        self.done = threading.Event()
        self.result = None  # ("ok", bytes) | ("error", bytes) | ("crash", point) | ("timeout", None)

    def finish(self, kind: str, value) -> None:
        if not self.done.is_set():
            self.result = (kind, value)
            self.done.set()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def get_request(self):
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status: int, body: bytes, headers=()) -> None:
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Function:
    def __init__(self, name: str, spec: dict, logs: Path):
        self.name = name
        self.binary = spec["binary"]
        self.env = spec.get("env", {})
        self.timeout = float(spec.get("timeout", 10))
        self.queue: queue.Queue = queue.Queue()
        self.instances = [Instance(self, i, logs) for i in range(int(spec.get("instances", 1)))]

    def invoke(self, payload: bytes) -> Invocation:
        invocation = Invocation(self.name, payload, self.timeout)
        count("invocations", self.name)
        self.queue.put(invocation)
        # Queued plus run: a generous bound; the instance's own watchdog enforces the function's timeout.
        if not invocation.done.wait(self.timeout * 6 + 30):
            invocation.finish("timeout", None)
        return invocation


class Instance:
    def __init__(self, function: Function, index: int, logs: Path):
        self.function = function
        self.index = index
        self.log_path = logs / f"{function.name}-{index}.log"
        self.lock = threading.Lock()
        self.generation = 0
        self.proc = None
        self.current: Invocation | None = None
        self.last_crash_point = None
        self.polled = threading.Event()
        self.stopping = False
        self.recycling = False
        self.runtime = Server(("127.0.0.1", 0), self.runtime_handler())
        threading.Thread(target=self.runtime.serve_forever, daemon=True).start()

    def runtime_handler(self):
        instance = self

        class Runtime(Quiet):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != f"{RUNTIME}/invocation/next":
                    self.reply(404, b"{}")
                    return
                generation = instance.generation
                instance.polled.set()
                while True:
                    proc = instance.proc
                    if (instance.generation != generation or instance.stopping
                            or proc is None or proc.poll() is not None):
                        self.close_connection = True
                        return
                    try:
                        invocation = instance.function.queue.get(timeout=0.5)
                    except queue.Empty:
                        continue
                    if invocation.done.is_set():
                        continue
                    with instance.lock:
                        if instance.generation != generation:
                            instance.function.queue.put(invocation)
                            self.close_connection = True
                            return
                        instance.current = invocation
                        invocation.deadline = time.monotonic() + invocation.timeout
                    deadline_ms = int((time.time() + invocation.timeout) * 1000)
                    try:
                        self.reply(200, invocation.payload, [
                            ("Content-Type", "application/json"),
                            ("Lambda-Runtime-Aws-Request-Id", invocation.id),
                            ("Lambda-Runtime-Deadline-Ms", str(deadline_ms)),
                            ("Lambda-Runtime-Invoked-Function-Arn",
                             f"arn:aws:lambda:us-east-1:123456789012:function:{instance.function.name}"),
                            ("Lambda-Runtime-Trace-Id", f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}"),
                        ])
                    except OSError:
                        with instance.lock:
                            if instance.current is invocation:
                                instance.current = None
                        instance.function.queue.put(invocation)
                        self.close_connection = True
                    return

            def do_POST(self) -> None:
                body = self.body()
                match = re.fullmatch(rf"{RUNTIME}/invocation/([^/]+)/(response|error)", self.path)
                if match:
                    with instance.lock:
                        invocation = instance.current
                        if invocation is not None and invocation.id == match.group(1):
                            instance.current = None
                        else:
                            invocation = None
                    if invocation is not None:
                        invocation.finish("ok" if match.group(2) == "response" else "error", body)
                        if match.group(2) == "error":
                            count("errors", instance.function.name)
                    self.reply(202, b'{"status":"OK"}')
                    return
                if self.path == f"{RUNTIME}/init/error":
                    self.reply(202, b'{"status":"OK"}')
                    return
                self.reply(404, b"{}")

        return Runtime

    def start(self) -> None:
        env = lambda_env(self.runtime.server_address[1], {
            **self.function.env,
            "AWS_LAMBDA_FUNCTION_NAME": self.function.name,
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function.name}",
        })
        log = open(self.log_path, "ab")
        with self.lock:
            self.generation += 1
            self.last_crash_point = None
            self.proc = subprocess.Popen([self.function.binary], env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.PIPE)
            proc = self.proc
        log.close()
        threading.Thread(target=self.read_stderr, args=(proc,), daemon=True).start()
        threading.Thread(target=self.watch, args=(proc,), daemon=True).start()

    def read_stderr(self, proc) -> None:
        with open(self.log_path, "ab") as log:
            for line in proc.stderr:
                log.write(line)
                match = CRASH_LINE.search(line.decode("utf-8", "replace"))
                if match:
                    self.last_crash_point = match.group(1)

    def watch(self, proc) -> None:
        """Waits for the process to exit (or overrun its invocation's timeout), then starts it again."""
        timed_out = False
        while proc.poll() is None:
            with self.lock:
                current = self.current
            if current is not None and current.deadline is not None and time.monotonic() > current.deadline:
                timed_out = True
                proc.kill()
                proc.wait()
                break
            time.sleep(0.05)
        if self.stopping:
            return
        time.sleep(0.05)  # let the stderr reader see the crash line
        name = self.function.name
        if self.recycling:
            reason = "recycled"
        elif timed_out:
            reason = "timeout"
            count("timeouts", name)
        elif self.last_crash_point:
            reason = self.last_crash_point
            count("crash_points", self.last_crash_point)
        else:
            reason = f"exit {proc.returncode}"
        count("exits", f"{name}: {reason}")
        with self.lock:
            self.generation += 1  # a poll still held for the dead process must not take an invocation
            current, self.current = self.current, None
        if current is not None:
            current.finish("timeout" if timed_out else "crash", reason)
        count("restarts", name)
        self.start()
        self.recycling = False

    def recycle(self) -> None:
        """Stops the process once it is idle and starts it again with the function's (new) environment."""
        deadline = time.monotonic() + self.function.timeout + 5
        while time.monotonic() < deadline:
            with self.lock:
                if self.current is None:
                    self.generation += 1  # its poll takes no more invocations
                    self.recycling = True
                    proc = self.proc
                    break
            time.sleep(0.02)
        else:
            return
        self.polled.clear()
        proc.kill()
        while self.recycling:
            time.sleep(0.02)
        self.polled.wait(30)

    def stop(self) -> None:
        self.stopping = True
        with self.lock:
            proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                proc.kill()


def api_gateway_event(method: str, path: str, headers, body: bytes) -> dict:
    """An API Gateway HTTP API (payload 2.0) event for a request."""
    parts = urlsplit(path)
    lowered = {}
    for k, v in headers.items():
        key = k.lower()
        lowered[key] = f"{lowered[key]},{v}" if key in lowered else v
    try:
        text, is_b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode(), True
    now = time.time()
    event = {
        "version": "2.0", "routeKey": "$default", "rawPath": parts.path, "rawQueryString": parts.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012", "apiId": "soak", "domainName": "127.0.0.1", "domainPrefix": "soak",
            "http": {"method": method, "path": parts.path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": lowered.get("user-agent", "")},
            "requestId": uuid.uuid4().hex[:16], "routeKey": "$default", "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": is_b64,
    }
    if parts.query:
        params: dict = {}
        for k, v in parse_qsl(parts.query, keep_blank_values=True):
            params[k] = f"{params[k]},{v}" if k in params else v
        event["queryStringParameters"] = params
    if body:
        event["body"] = text
    return event


def gateway_handler(functions: dict):
    class Gateway(Quiet):
        def handle_any(self) -> None:
            body = self.body()
            if self.path == "/__host/stats":
                with STATS_LOCK:
                    self.reply(200, json.dumps({k: dict(v) for k, v in STATS.items()}).encode(),
                               [("Content-Type", "application/json")])
                return
            if self.path == "/__host/calm":
                for function in functions.values():
                    function.env.pop("ENTITLE_CRASH_AT", None)
                for function in functions.values():
                    for instance in function.instances:
                        instance.recycle()
                self.reply(200, b'{"ok":true}', [("Content-Type", "application/json")])
                return
            invoke = re.fullmatch(r"/2015-03-31/functions/([^/]+)/invocations", self.path)
            if invoke and invoke.group(1) in functions:
                result = functions[invoke.group(1)].invoke(body).result
                if result[0] == "ok":
                    self.reply(200, result[1], [("Content-Type", "application/json")])
                else:
                    message = result[1] if result[0] == "error" else json.dumps(
                        {"errorType": "Runtime.ExitError" if result[0] == "crash" else "Sandbox.Timedout",
                         "errorMessage": f"{result[0]}: {result[1]}"}).encode()
                    self.reply(200, message, [("Content-Type", "application/json"),
                                              ("X-Amz-Function-Error", "Unhandled")])
                return
            match = re.fullmatch(r"/lambda-url/([^/?]+)(/[^?]*)?(\?.*)?", self.path)
            if not match or match.group(1) not in functions:
                self.reply(404, b'{"message":"Not Found"}', [("Content-Type", "application/json")])
                return
            path = (match.group(2) or "/") + (match.group(3) or "")
            event = api_gateway_event(self.command, path, self.headers, body)
            result = functions[match.group(1)].invoke(json.dumps(event).encode()).result
            if result[0] != "ok":
                status = 503 if result[0] == "timeout" else 502
                message = b'{"message":"Service Unavailable"}' if status == 503 else (
                    b'{"message":"Internal Server Error"}')
                self.reply(status, message, [("Content-Type", "application/json")])
                return
            try:
                answer = json.loads(result[1])
                status = int(answer.get("statusCode", 200))
                data = answer.get("body") or ""
                data = base64.b64decode(data) if answer.get("isBase64Encoded") else data.encode()
                headers = list((answer.get("headers") or {}).items())
                for k, values in (answer.get("multiValueHeaders") or {}).items():
                    headers.extend((k, v) for v in values)
                headers.extend(("Set-Cookie", c) for c in answer.get("cookies") or [])
            except (ValueError, AttributeError, TypeError):
                self.reply(502, b'{"message":"Internal Server Error"}', [("Content-Type", "application/json")])
                return
            headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "connection")]
            self.reply(status, data, headers)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = handle_any

    return Gateway


def sqs_poller(function: Function, spec: dict, stop: threading.Event) -> None:
    import boto3

    sqs = boto3.client("sqs", endpoint_url=spec["endpoint"], region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    queue_url = spec["queue_url"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    retry = int(spec.get("retry_visibility", 2))
    while not stop.is_set():
        try:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                           AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        except Exception as e:  # noqa: BLE001 - the emulator restarting: try again
            print(f"soak-lambda: receive failed: {e}", file=sys.stderr, flush=True)
            time.sleep(1)
            continue
        if not messages:
            continue
        count("sqs", "received", len(messages))
        payload = {"Records": [sqs_record(m, arn, "us-east-1") for m in messages]}
        kind, value = function.invoke(json.dumps(payload).encode()).result
        failed = {m["MessageId"] for m in messages}
        if kind == "ok":
            try:
                reply = json.loads(value)
                failed = {f.get("itemIdentifier") for f in reply["batchItemFailures"]}
            except (ValueError, KeyError, TypeError):
                pass
        else:
            count("sqs", "batches_failed")
        done = [m for m in messages if m["MessageId"] not in failed]
        again = [m for m in messages if m["MessageId"] in failed]
        count("sqs", "deleted", len(done))
        count("sqs", "retried", len(again))
        try:
            if done:
                sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
            if again:
                sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": retry}
                    for i, m in enumerate(again)])
        except Exception as e:  # noqa: BLE001 - left to the visibility timeout
            print(f"soak-lambda: delete/visibility failed: {e}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    config = json.loads(Path(args.config).read_text())
    logs = Path(config.get("logs", ".local/soak/logs"))
    logs.mkdir(parents=True, exist_ok=True)
    functions = {name: Function(name, spec, logs) for name, spec in config["functions"].items()}
    instances = list(itertools.chain.from_iterable(f.instances for f in functions.values()))
    stop = threading.Event()

    def shutdown(*_):
        stop.set()
        for instance in instances:
            instance.stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, shutdown)
    for instance in instances:
        instance.start()
    for instance in instances:
        if not instance.polled.wait(60):
            print(f"soak-lambda: {instance.function.name} #{instance.index} did not start; see {instance.log_path}",
                  file=sys.stderr, flush=True)
            shutdown()
    sqs = config.get("sqs")
    if sqs:
        for _ in range(int(sqs.get("pollers", 1))):
            threading.Thread(target=sqs_poller, args=(functions[sqs["function"]], sqs, stop), daemon=True).start()
    gateway = Server(("127.0.0.1", int(config.get("port", 0))), gateway_handler(functions))
    print(f"gateway {gateway.server_address[1]}", flush=True)
    try:
        gateway.serve_forever()
    except KeyboardInterrupt:
        shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
