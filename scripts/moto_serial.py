#!/usr/bin/env python3
"""moto's server, answering one DynamoDB request at a time.

    .venv/bin/python scripts/moto_serial.py -H 127.0.0.1 -p PORT

moto's own server is threaded and its DynamoDB backend checks a write's condition and then writes without a
lock, so two racing conditional writes (or transactions) can both pass — which DynamoDB never allows on one
item. Serializing the requests gives the emulator DynamoDB's per-item atomicity, so tests of racing callers
test our code, not moto. Only DynamoDB is serialized: an SQS long poll (the dev bridge waits up to 20 s) must
not hold every other caller. Connections are still accepted concurrently (keep-alive works); moto is bound by
the GIL anyway, so throughput is about the same.
"""
import argparse
import os
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serial(environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            return app(environ, start_response)
        with lock:
            # Materialize the body inside the lock: moto's work happens while it is produced.
            return [b"".join(app(environ, start_response))]

    run_simple(
        args.host, args.port, serial, threaded=True, request_handler=MotoRequestHandler
    )


if __name__ == "__main__":
    main()
