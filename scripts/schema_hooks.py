"""schemathesis hooks for `make schema` (loaded through SCHEMATHESIS_HOOKS by scripts/schema_check.py).

The functions run under cargo lambda's local runtime, which turns each HTTP request into API Gateway's JSON event
and cannot put bytes that are not UTF-8 into it: it answers its own 500 without calling the function (API Gateway
base64-encodes such a body instead). So, just before each call (every phase, coverage included, through `before_call`):

- a header value is sent as its UTF-8 bytes (the requests library would send `é` as one Latin-1 byte): non-ASCII
  keys still reach billing-api, which must refuse them (`400 invalid_idempotency_key`);
- a raw body's bytes that are not UTF-8 are sent as U+FFFD (still not JSON, still to be refused). The handlers'
  treatment of any bytes at all is what `make fuzz` covers (crates/fuzz), through the same handlers.
"""

import json
import os
import time
import urllib.request

import schemathesis


def _utf8_on_the_wire(value: str) -> str:
    # requests encodes header values as Latin-1: this string's Latin-1 bytes are the original's UTF-8 bytes.
    return value.encode("utf-8", "surrogatepass").decode("latin-1")


def _transcode(case) -> None:
    if case.headers:
        for name, value in list(case.headers.items()):
            if isinstance(value, str) and not value.isascii():
                case.headers[name] = _utf8_on_the_wire(value)
    if isinstance(case.body, (bytes, bytearray)):
        try:
            bytes(case.body).decode("utf-8")
        except UnicodeDecodeError:
            case.body = bytes(case.body).decode("utf-8", "replace").encode("utf-8")


# ---- "a refused input changes nothing", request by request (SCHEMA_STATE_CHECK=1, one worker) ----
#
# Before each call the hooks read the state (every DynamoDB table's items through the local AWS, and the count of
# the local Stripe's writes); after a refusal (4xx), or any read (GET), the state must be the same. An accepted
# POST (an unknown extra header is not a reason to refuse) may change what the document says it changes: the
# hooks then wait for the processor to finish what it started (the entitlement queue empty, the state still)
# before the next call, so that nothing it does is taken for the next request's doing. Each violation is one JSON
# line in SCHEMA_VIOLATIONS.

_CHECK = os.environ.get("SCHEMA_STATE_CHECK") == "1"
_BEFORE: dict[int, object] = {}
_AWS: dict = {}


def _aws():
    if not _AWS:
        import boto3  # the venv's (with moto)

        env = {}
        for line in open(os.environ["SCHEMA_AWS_ENV"]).read().splitlines():
            line = line.removeprefix("export ").strip()
            if "=" in line:
                name, value = line.split("=", 1)
                env[name] = value.strip("'\"")
        kwargs = dict(endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env.get("AWS_REGION", "us-east-1"),
                      aws_access_key_id="test", aws_secret_access_key="test")
        _AWS.update(env=env, dynamodb=boto3.client("dynamodb", **kwargs), sqs=boto3.client("sqs", **kwargs),
                    tables=sorted(env[n] for n in env if n.endswith("_TABLE")))
    return _AWS


def _state():
    aws = _aws()
    tables = []
    for name in aws["tables"]:
        items, start = [], None
        while True:
            page = aws["dynamodb"].scan(TableName=name, ConsistentRead=True,
                                        **({"ExclusiveStartKey": start} if start else {}))
            items.extend(json.dumps(item, sort_keys=True) for item in page["Items"])
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        tables.append((name, tuple(sorted(items))))
    with urllib.request.urlopen(f"{os.environ['SCHEMA_STRIPE_BASE']}/__fake/requests", timeout=10) as reply:
        writes = sum(1 for r in json.load(reply) if r["method"] in ("POST", "DELETE") and r["path"].startswith("/v1/"))
    return writes, tuple(tables)


def _queue_empty() -> bool:
    aws = _aws()
    attrs = aws["sqs"].get_queue_attributes(QueueUrl=aws["env"]["ENTITLEMENT_QUEUE_URL"], AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"]) == 0


def _settle(timeout: float = 60) -> None:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        time.sleep(1)
        if _queue_empty():
            now = _state()
            if now == last:
                return
            last = now


def _differences(before, after) -> list[str]:
    out = []
    if before[0] != after[0]:
        out.append(f"the local Stripe got {after[0] - before[0]} write(s)")
    for (name, old), (_, new) in zip(before[1], after[1], strict=True):
        if old != new:
            out.append(f"{name}: {len(set(old) ^ set(new))} item(s) differ, e.g. {sorted(set(new) - set(old))[:1]}")
    return out


@schemathesis.hook
def before_call(context, case, kwargs):
    _transcode(case)
    if _CHECK:
        _BEFORE[id(case)] = _state()


@schemathesis.hook
def after_call(context, case, response):
    if not _CHECK:
        return
    before = _BEFORE.pop(id(case), None)
    if before is None:
        return
    status = response.status_code
    checked = case.method.upper() == "GET" or status >= 400
    with open(os.environ["SCHEMA_VIOLATIONS"] + ".count", "a") as sink:
        sink.write(f"{case.method.upper()} {status} {'checked' if checked else 'accepted'}\n")
    if checked:
        after = _state()
        differences = _differences(before, after)
        if differences:
            with open(os.environ["SCHEMA_VIOLATIONS"], "a") as sink:
                sink.write(json.dumps({"method": case.method, "path": case.path, "status": status,
                                       "headers": sorted((case.headers or {}).keys()),
                                       "differences": differences}) + "\n")
    else:
        _settle()
