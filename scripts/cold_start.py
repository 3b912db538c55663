#!/usr/bin/env python3
"""Measures the cold init of a Lambda binary: process spawn -> first `GET /runtime/invocation/next`.

    scripts/cold_start.py --binary target/lambda/stripe-webhook/bootstrap [--runs 20] [--env K=V ...]

A minimal Lambda Runtime API stub listens on 127.0.0.1. Each run spawns the binary with the Lambda environment
pointed at the stub and times from just before the spawn to the moment the stub receives the first poll for an
invocation; the process is then killed. That is the part of a cold start the code controls (runtime set-up,
configuration, clients built at init). For scale it also times spawn -> exit of `/bin/true`, the floor any
process pays on this machine. Standard library only.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NEXT_PATH = "/2018-06-01/runtime/invocation/next"
INIT_ERROR_PATH = "/2018-06-01/runtime/init/error"


class RunState:
    """What the stub saw during one run."""

    def __init__(self) -> None:
        self.polled_ns: int | None = None
        self.init_error: str | None = None
        self.event = threading.Event()  # set on first poll or init error
        self.release = threading.Event()  # set when the run is over: held requests are dropped


class Stub(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = RunState()
        self.lock = threading.Lock()

    def get_request(self):
        sock, addr = super().get_request()
        # Without this, delayed ACKs add ~40 ms per request on loopback.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def handle_error(self, request, client_address) -> None:
        # The process under test is killed mid-connection on purpose: resets are expected.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Stub

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        now = time.perf_counter_ns()
        state = self.server.state
        if self.path.split("?", 1)[0] == NEXT_PATH:
            with self.server.lock:
                if state.polled_ns is None:
                    state.polled_ns = now
            state.event.set()
            # Never answer: the run ends here. Hold the request until the process is killed, then drop it.
            state.release.wait(30)
            self.close_connection = True
            return
        self._reply(404, b"{}")

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.split("?", 1)[0] == INIT_ERROR_PATH:
            state.init_error = body.decode("utf-8", "replace") or "(empty init error)"
            state.event.set()
        self._reply(202, b'{"status":"OK"}')

    def _reply(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def lambda_env(port: int, extra: dict[str, str]) -> dict[str, str]:
    """A clean environment shaped like Lambda's (provided.al2023), plus dummy credentials and the --env values."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "cold-start",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_FORMAT": "Text",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/cold-start",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]00000000000000000000000000000000",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_SESSION_TOKEN": "test",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        # Lambda has no ~/.aws: don't let the SDK read the developer's.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    env.update(extra)
    return env


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summary(values_ms: list[float]) -> tuple[float, float, float, float]:
    v = sorted(values_ms)
    return v[0], statistics.median(v), percentile(v, 90), v[-1]


def tail(path: str, lines: int = 20) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()[-8000:]
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def run_binary_once(stub: Stub, binary: str, env: dict[str, str], timeout_s: float, out_path: str):
    """Returns (init_ms, None) or (None, error message)."""
    state = RunState()
    stub.state = state
    with open(out_path, "wb") as out:
        t0 = time.perf_counter_ns()
        proc = subprocess.Popen([binary], env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=os.path.dirname(os.path.abspath(binary)) or None)
    try:
        deadline = time.monotonic() + timeout_s
        while not state.event.wait(0.01):
            if proc.poll() is not None:
                state.event.wait(0.05)  # a poll racing the exit
                if not state.event.is_set():
                    return None, f"exited with status {proc.returncode} before polling for an invocation"
                break
            if time.monotonic() > deadline:
                return None, f"did not poll {NEXT_PATH} within {timeout_s:g} s"
        if state.polled_ns is None:
            return None, f"init error reported: {state.init_error}"
        return (state.polled_ns - t0) / 1e6, None
    finally:
        kill(proc)
        state.release.set()


def spawn_floor_once(true_bin: str) -> float:
    t0 = time.perf_counter_ns()
    proc = subprocess.Popen([true_bin], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    proc.wait()
    return (time.perf_counter_ns() - t0) / 1e6


def parse_env(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"--env expects K=V, got {pair!r}")
        k, v = pair.split("=", 1)
        out[k] = v
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True, help="the Lambda bootstrap executable")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured runs first (page cache), default 1")
    parser.add_argument("--env", action="append", default=[], metavar="K=V", help="extra environment (repeatable)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the first poll")
    args = parser.parse_args(argv)

    binary = args.binary
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        print(f"cold_start: {binary} is not an executable file", file=sys.stderr)
        return 2
    if args.runs < 1:
        print("cold_start: --runs must be >= 1", file=sys.stderr)
        return 2
    true_bin = shutil.which("true") or "/bin/true"

    stub = Stub()
    port = stub.server_address[1]
    threading.Thread(target=stub.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    env = lambda_env(port, parse_env(args.env))

    init_ms: list[float] = []
    floor_ms: list[float] = []
    fd, out_path = tempfile.mkstemp(prefix="cold-start-", suffix=".log")
    os.close(fd)
    try:
        for i in range(args.warmup + args.runs):
            ms, err = run_binary_once(stub, binary, env, args.timeout, out_path)
            if err:
                print(f"cold_start: {binary} {err}", file=sys.stderr)
                output = tail(out_path)
                if output:
                    print("--- its output (last lines) ---\n" + output, file=sys.stderr)
                return 1
            if i >= args.warmup:
                init_ms.append(ms)
                floor_ms.append(spawn_floor_once(true_bin))
            else:
                spawn_floor_once(true_bin)
    finally:
        stub.shutdown()
        stub.server_close()
        os.unlink(out_path)

    rows = [
        (f"{os.path.basename(os.path.dirname(os.path.abspath(binary)))}/{os.path.basename(binary)}"
         " (spawn -> first /next)", summary(init_ms)),
        (f"spawn floor ({true_bin}, spawn -> exit)", summary(floor_ms)),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"cold init over {args.runs} runs ({args.warmup} warm-up), milliseconds")
    print(f"{'':<{width}}  {'min':>8} {'median':>8} {'p90':>8} {'max':>8}")
    for name, (mn, med, p90, mx) in rows:
        print(f"{name:<{width}}  {mn:8.2f} {med:8.2f} {p90:8.2f} {mx:8.2f}")
    print(f"{'median minus floor':<{width}}  {'':>8} {rows[0][1][1] - rows[1][1][1]:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
