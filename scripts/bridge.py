#!/usr/bin/env python3
"""For `make dev`: feeds the local entitlement queue to the entitlement processor, as Lambda's SQS event source
mapping does in AWS.

    .venv/bin/python scripts/bridge.py --env-file .local/dev-aws.env \\
        [--invoke-url http://127.0.0.1:9000/2015-03-31/functions/entitlement-processor/invocations]

Long-polls ENTITLEMENT_QUEUE_URL on the local AWS (endpoint and credentials from the env file that
`scripts/local_aws.py start` wrote), wraps each batch of up to 10 messages in an SQS event payload
(`{"Records": [{"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
"eventSource": "aws:sqs", "eventSourceARN", "awsRegion"}]}`), POSTs it to `cargo lambda watch`'s invoke endpoint,
deletes every message the reply does not list in `batchItemFailures` and leaves those for redelivery after the
queue's visibility timeout. A batch the function fails as a whole stays in the queue, as with Lambda. While the
invoke endpoint is unreachable (watch restarting), the batch is held and retried, then handed back to the queue;
so is a batch in progress when the bridge is stopped.
Logs one line per batch. Uses boto3 from the venv (moto brings it).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_aws import read_env_file  # noqa: E402  (the env file's one reader)

DEFAULT_INVOKE_URL = "http://127.0.0.1:9000/2015-03-31/functions/entitlement-processor/invocations"
# How long a batch is held while the invoke endpoint is unreachable before it goes back to the queue.
HOLD_SECONDS = 60.0


def log(message: str) -> None:
    print(f"bridge: {message}", flush=True)


def sqs_record(message: dict, queue_arn: str, region: str) -> dict:
    """One record of the event Lambda hands a function for an SQS batch."""
    attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": None,
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value.get("DataType", "String"),
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def event_type(message: dict) -> str:
    try:
        return json.loads(message["Body"]).get("type", "?")
    except (ValueError, AttributeError):
        return "(not JSON)"


class Unreachable(Exception):
    """The invoke endpoint did not answer: nothing was processed."""


def invoke(url: str, payload: dict, timeout: float):
    """The function's reply (parsed JSON), or raises Unreachable. A function error comes back as its JSON body."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        text = e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        raise Unreachable(str(getattr(e, "reason", e))) from e
    try:
        return json.loads(text)
    except ValueError:
        return {"errorMessage": text.strip()[:300] or "(empty reply)"}


def deliver(url: str, payload: dict, timeout: float, hold: float = HOLD_SECONDS):
    """Invokes the function with the batch, retrying while its endpoint is unreachable (watch restarting) for
    up to `hold` seconds (well inside the queue's visibility timeout). (reply, seconds the invocation took),
    or None if the endpoint stayed unreachable."""
    held_since, said = time.monotonic(), False
    while True:
        started = time.monotonic()
        try:
            reply = invoke(url, payload, timeout)
        except Unreachable as e:
            if time.monotonic() - held_since > hold:
                log(f"the processor at {url} is unreachable ({e}); batch handed back to the queue")
                return None
            if not said:
                log(f"waiting for the processor at {url} ({e})")
                said = True
            time.sleep(2)
            continue
        return (reply if isinstance(reply, dict) else {"errorMessage": reply}), time.monotonic() - started


def release(sqs, queue: str, messages: list) -> None:
    """Makes a batch visible again now rather than after the visibility timeout (each receive still counts
    towards the queue's redrive to the DLQ)."""
    sqs.change_message_visibility_batch(QueueUrl=queue, Entries=[
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(messages)])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-file", default=".local/dev-aws.env")
    parser.add_argument("--invoke-url", default=DEFAULT_INVOKE_URL)
    parser.add_argument("--wait", type=int, default=20, help="long-poll seconds (SQS allows up to 20)")
    # The first invocation compiles the processor under `cargo lambda watch`: that can take minutes.
    parser.add_argument("--invoke-timeout", type=float, default=900.0)
    parser.add_argument("--hold-seconds", type=float, default=HOLD_SECONDS,
                        help="how long to retry a batch while the invoke endpoint is unreachable")
    args = parser.parse_args(argv)

    # Stopped by dev.sh with SIGTERM: leave quietly, handing back a batch in progress.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    env = read_env_file(Path(args.env_file))
    region = env.get("AWS_REGION", "us-east-1")
    sqs = boto3.client(
        "sqs",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=region,
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "test"),
    )
    queue = env["ENTITLEMENT_QUEUE_URL"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    log(f"{queue.rsplit('/', 1)[-1]} -> {args.invoke_url}")
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=args.wait,
            AttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            continue
        types = ", ".join(event_type(m) for m in messages)
        payload = {"Records": [sqs_record(m, queue_arn, region) for m in messages]}
        try:
            delivered = deliver(args.invoke_url, payload, args.invoke_timeout, args.hold_seconds)
        except (KeyboardInterrupt, SystemExit):
            release(sqs, queue, messages)  # stopped mid-batch: the next bridge gets it at once (replays are safe)
            raise
        if delivered is None:
            release(sqs, queue, messages)
            continue
        reply, took = delivered
        elapsed = f"{took * 1000:.0f} ms"
        if "batchItemFailures" not in reply:
            detail = reply.get("errorMessage", reply)
            log(f"{len(messages)} event(s) ({types}) -> processor failed the batch ({detail}); "
                f"left for redelivery [{elapsed}]")
            continue
        failed = {f.get("itemIdentifier") for f in reply["batchItemFailures"]}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:  # at most 10, as received
            sqs.delete_message_batch(QueueUrl=queue, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        retry = f", {len(messages) - len(done)} left for redelivery" if failed else ""
        log(f"{len(messages)} event(s) ({types}) -> processor: {len(done)} done{retry} [{elapsed}]")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
