#!/usr/bin/env python3
"""docs/openapi.yaml drives tests of billing-api and usage-api on the local stack (schemathesis), for `make schema`.

    schema_check.py --ready .local/dev-ready --aws-env .local/dev-aws.env --out .local/schema [--examples 12]

Run by scripts/schema.sh once `make dev` (scripts/dev.sh) is up. Three passes, each with valid credentials (a
session token of the local Clerk for the seeded user, the local usage-api key):

1. **Reads and refusals**: every GET operation with valid and invalid inputs, and every POST with invalid inputs
   only (schemathesis' negative mode). Every response must conform to the document (status code, content type,
   body schema), none may be a 5xx, and an input the document calls invalid must be refused with a 4xx.
2. **Nothing changed**: DynamoDB's tables (every item, scanned through the local AWS) and the requests that changed
   anything in the local Stripe (POST/DELETE to /v1/…) are the same as before pass 1: a read or a refused input
   writes nothing.
3. **Writes**: every POST with valid inputs; the responses conform and none is a 5xx (the document says that
   these change state).

Prints the figures (operations, test cases, requests per pass, failures) and exits 1 on any failure. The runs'
reports (JUnit) land in --out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = REPO_ROOT / "docs" / "openapi.yaml"
# The user scripts/dev.sh seeds: a Stripe customer with an active Starter subscription, linked in the customers
# table, so that reads answer real entitlements.
SEEDED_USER = "user_2abcDEFghiJKLmnoPQRstuVWxyz"
CONFORMANCE = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def read_env(path: Path) -> dict:
    values = {}
    for line in path.read_text().splitlines():
        line = line.removeprefix("export ").strip()
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            values[name] = value.strip("'\"")
    return values


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.load(reply)


def get_json(url: str, headers: dict | None = None):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.load(reply)


def dynamodb(aws: dict):
    import boto3  # the venv's (scripts/requirements.txt, with moto)

    return boto3.client("dynamodb", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name=aws.get("AWS_REGION", "us-east-1"),
                        aws_access_key_id=aws.get("AWS_ACCESS_KEY_ID", "test"),
                        aws_secret_access_key=aws.get("AWS_SECRET_ACCESS_KEY", "test"))


def tables(aws: dict) -> list[str]:
    return sorted(aws[name] for name in aws if name.endswith("_TABLE"))


def snapshot(client, names: list[str]) -> dict[str, list[str]]:
    """Every item of every table, as sorted canonical JSON lines."""
    out = {}
    for name in names:
        items, start = [], None
        while True:
            page = client.scan(TableName=name, ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {}))
            items.extend(json.dumps(item, sort_keys=True) for item in page["Items"])
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        out[name] = sorted(items)
    return out


def stripe_writes(stripe_base: str) -> list[str]:
    """The requests that changed something in the local Stripe: POST or DELETE to its API (not reads)."""
    return [f"{r['method']} {r['path']}" for r in get_json(f"{stripe_base}/__fake/requests")
            if r["method"] in ("POST", "DELETE") and r["path"].startswith("/v1/")]


def queue_depth(aws: dict) -> int:
    import boto3

    sqs = boto3.client("sqs", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name=aws.get("AWS_REGION", "us-east-1"),
                       aws_access_key_id="test", aws_secret_access_key="test")
    total = 0
    for name in ("ENTITLEMENT_QUEUE_URL",):
        attrs = sqs.get_queue_attributes(QueueUrl=aws[name], AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        total += int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
    return total


def settle(client, names: list[str], aws: dict, stripe_base: str, timeout: float = 120) -> tuple[dict, list[str]]:
    """Waits until the entitlement queue is empty and two snapshots a few seconds apart agree (the seeded events
    processed, no delivery still on its way), then answers that snapshot and the Stripe writes so far."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if queue_depth(aws) == 0:
            now = (snapshot(client, names), stripe_writes(stripe_base))
            if now == last:
                return now
            last = now
        time.sleep(3)
    raise SystemExit("schema: the local stack did not settle (queue not empty or tables still changing)")


def schemathesis(out: Path, label: str, base_url: str, auth: str, selection: list[str], mode: str, checks: str,
                 examples: int, seed: int) -> tuple[int, dict]:
    """One schemathesis run; answers its exit status and the counts read from its JUnit report."""
    junit = (out / f"{label}.xml").resolve()
    command = [str(Path(sys.executable).parent / "schemathesis"), "run", str(DOCUMENT), "--url", base_url,
               "--header", f"Authorization: Bearer {auth}", "--mode", mode, "--checks", checks,
               "--max-examples", str(examples), "--seed", str(seed), "--phases", "examples,coverage,fuzzing",
               "--workers", "2", "--request-timeout", "30", "--suppress-health-check", "all",
               "--report", "junit", "--report-junit-path", str(junit), "--no-color", *selection]
    print(f"schema: {label}: {' '.join(command[2:3] + command[4:6] + command[8:12])} {' '.join(selection)}", flush=True)
    started = time.monotonic()
    log = out / f"{label}.log"
    # Run from the output folder: schemathesis keeps a cache (.schemathesis/) in its working directory, and a
    # write inside the workspace would make cargo lambda watch restart the functions mid-request.
    with log.open("w") as sink:
        status = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"},
                                cwd=out, check=False).returncode
    elapsed = time.monotonic() - started
    counts = junit_counts(junit)
    counts["seconds"] = round(elapsed, 1)
    counts["requests"] = requests_made(log)
    if status != 0:
        print(log.read_text()[-6000:], flush=True)
    return status, counts


def junit_counts(path: Path) -> dict:
    import xml.etree.ElementTree as ET

    if not path.exists():
        return {"operations": 0, "failures": 0, "errors": 0}
    root = ET.parse(path).getroot()
    cases = root.iter("testcase")
    operations = failures = errors = 0
    for case in cases:
        operations += 1
        failures += len(case.findall("failure"))
        errors += len(case.findall("error"))
    return {"operations": operations, "failures": failures, "errors": errors}


def requests_made(log: Path) -> int | None:
    """The test cases schemathesis reports having generated ("N generated" in its summary), when it says."""
    import re

    text = log.read_text()
    found = re.findall(r"(\d+) generated", text)
    return sum(int(n) for n in found) if found else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ready", default=".local/dev-ready")
    parser.add_argument("--aws-env", default=".local/dev-aws.env")
    parser.add_argument("--out", default=".local/schema")
    parser.add_argument("--examples", type=int, default=int(os.environ.get("SCHEMA_EXAMPLES", "12")))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SCHEMA_SEED", "20261208")))
    args = parser.parse_args()

    ready, aws = read_env(Path(args.ready)), read_env(Path(args.aws_env))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    token = post_json(f"{ready['CLERK_BASE']}/__fake/sessions", {"userId": SEEDED_USER, "azp": ready["APP_URL"]})["token"]
    usage_key = ready["USAGE_API_KEY"]
    billing, usage = ready["BILLING_API"], ready["USAGE_API"]
    # The seeded Starter subscription reaches the entitlements through the processor: reads answer it.
    # The first request to each function may wait for cargo lambda watch to start (or build) it.
    deadline = time.monotonic() + 600
    while True:
        try:
            plan = get_json(f"{billing}/entitlements", {"authorization": f"Bearer {token}"}).get("plan")
            get_json(f"{usage}/v1/entitlements?subject={SEEDED_USER}", {"authorization": f"Bearer {usage_key}"})
        except (OSError, ValueError) as e:
            plan = f"no answer yet ({e})"
        if plan not in (None, "free") and not plan.startswith("no answer"):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"schema: the seeded user's Starter entitlements never arrived (last: {plan})")
        time.sleep(2)

    client = dynamodb(aws)
    names = tables(aws)
    before, stripe_before = settle(client, names, aws, ready["STRIPE_BASE"])

    # One filter per run: schemathesis ORs its filters. An operation's name is "METHOD /path".
    def ops(method: str, api: str) -> list[str]:
        return ["--include-name-regex", f"^{method} /v1/" if api == "usage" else f"^{method} /(?!v1/)"]

    runs = [
        ("billing-reads", billing, token, ops("GET", "billing"), "all", CONFORMANCE + ",negative_data_rejection"),
        ("billing-refusals", billing, token, ops("POST", "billing"), "negative", CONFORMANCE + ",negative_data_rejection"),
        ("usage-reads", usage, usage_key, ops("GET", "usage"), "all", CONFORMANCE + ",negative_data_rejection"),
        ("usage-refusals", usage, usage_key, ops("POST", "usage"), "negative", CONFORMANCE + ",negative_data_rejection"),
    ]
    failed, figures = [], []
    for label, base, auth, selection, mode, checks in runs:
        status, counts = schemathesis(out, label, base, auth, selection, mode, checks, args.examples, args.seed)
        figures.append((label, counts))
        if status != 0:
            failed.append(label)

    after, stripe_after = settle(client, names, aws, ready["STRIPE_BASE"])
    changed = {name: (set(after[name]) ^ set(before[name])) for name in names if after[name] != before[name]}
    new_stripe_writes = stripe_after[len(stripe_before):] if stripe_after[:len(stripe_before)] == stripe_before else stripe_after
    if changed or new_stripe_writes:
        failed.append("nothing-changed")
        for name, items in changed.items():
            print(f"schema: FAILED — reads and refused inputs changed {name}: {len(items)} item(s) differ, e.g.")
            for item in sorted(items)[:3]:
                print(f"    {item[:400]}")
        for write in new_stripe_writes[:10]:
            print(f"schema: FAILED — reads and refused inputs wrote to the local Stripe: {write}")
    else:
        rows = sum(len(items) for items in before.values())
        print(f"schema: nothing changed — {len(names)} tables ({rows} items) and the local Stripe's writes "
              f"({len(stripe_before)}) are the same after the reads and refusals")

    writes = [
        ("billing-writes", billing, token, ops("POST", "billing"), "positive", CONFORMANCE),
        ("usage-writes", usage, usage_key, ops("POST", "usage"), "positive", CONFORMANCE),
    ]
    for label, base, auth, selection, mode, checks in writes:
        status, counts = schemathesis(out, label, base, auth, selection, mode, checks, args.examples, args.seed)
        figures.append((label, counts))
        if status != 0:
            failed.append(label)

    print("schema: pass              operations  failures  test cases  seconds")
    for label, counts in figures:
        print(f"schema: {label:<18} {counts['operations']:>10}  {counts['failures'] + counts['errors']:>8}  "
              f"{counts['requests'] if counts['requests'] is not None else '?':>10}  {counts['seconds']:>7}")
    if failed:
        print(f"schema: FAILED — {', '.join(failed)} (logs and JUnit reports in {out})")
        return 1
    print(f"schema: passed ({args.examples} examples per operation and phase, seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
