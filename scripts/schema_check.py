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


def schemathesis(out: Path, label: str, base_url: str, auth: str, selection: list[str], mode: str, checks: str,
                 examples: int, seed: int, state: dict | None = None) -> tuple[int, dict]:
    """One schemathesis run; answers its exit status and the counts read from its JUnit report."""
    junit = (out / f"{label}.xml").resolve()
    command = [str(Path(sys.executable).parent / "schemathesis"), "run", str(DOCUMENT), "--url", base_url,
               "--header", f"Authorization: Bearer {auth}", "--mode", mode, "--checks", checks,
               "--max-examples", str(examples), "--seed", str(seed), "--phases", "examples,coverage,fuzzing",
               "--workers", "1" if state else "2", "--request-timeout", "30", "--suppress-health-check", "all",
               "--report", "junit,har", "--report-junit-path", str(junit),
               "--report-har-path", str(junit.with_suffix(".har")), "--no-color", *selection]
    print(f"schema: {label}: {' '.join(command[2:3] + command[4:6] + command[8:12])} {' '.join(selection)}", flush=True)
    started = time.monotonic()
    log = out / f"{label}.log"
    # Run from the output folder: schemathesis keeps a cache (.schemathesis/) in its working directory, and a
    # write inside the workspace would make cargo lambda watch restart the functions mid-request.
    with log.open("w") as sink:
        env = {**os.environ, "NO_COLOR": "1", **(state or {}), "SCHEMATHESIS_HOOKS": "schema_hooks",
               "PYTHONPATH": str(REPO_ROOT / "scripts")}
        status = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=out,
                                check=False).returncode
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

    ready = read_env(Path(args.ready))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    session = {"userId": SEEDED_USER, "azp": ready["APP_URL"]}
    token = post_json(f"{ready['CLERK_BASE']}/__fake/sessions", session)["token"]
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

    violations = out / "violations.jsonl"
    violations.unlink(missing_ok=True)
    Path(f"{violations}.count").unlink(missing_ok=True)
    # Reads and refusals, one request at a time, each checked to change nothing (scripts/schema_hooks.py).
    state = {"SCHEMA_STATE_CHECK": "1", "SCHEMA_AWS_ENV": str(Path(args.aws_env).resolve()),
             "SCHEMA_STRIPE_BASE": ready["STRIPE_BASE"], "SCHEMA_VIOLATIONS": str(violations.resolve())}
    refusal_checks = CONFORMANCE + ",negative_data_rejection"
    # What the seeded events started is finished first (the entitlement queue empty, the state still).
    os.environ.update(state)
    import schema_hooks  # scripts/schema_hooks.py, beside this file

    schema_hooks._settle(timeout=120)

    # One filter per run: schemathesis ORs its filters. An operation's name is "METHOD /path".
    def ops(method: str, api: str) -> list[str]:
        return ["--include-name-regex", f"^{method} /v1/" if api == "usage" else f"^{method} /(?!v1/)"]

    runs = [
        ("billing-reads", billing, token, ops("GET", "billing"), "all", refusal_checks, state),
        ("billing-refusals", billing, token, ops("POST", "billing"), "negative", refusal_checks, state),
        ("usage-reads", usage, usage_key, ops("GET", "usage"), "all", refusal_checks, state),
        ("usage-refusals", usage, usage_key, ops("POST", "usage"), "negative", refusal_checks, state),
        # Then valid writes, which the document says change state: conformance and no 5xx.
        ("billing-writes", billing, token, ops("POST", "billing"), "positive", CONFORMANCE, None),
        ("usage-writes", usage, usage_key, ops("POST", "usage"), "positive", CONFORMANCE, None),
    ]
    failed, figures = [], []
    for label, base, auth, selection, mode, checks, check_state in runs:
        status, counts = schemathesis(out, label, base, auth, selection, mode, checks, args.examples, args.seed,
                                      check_state)
        figures.append((label, counts))
        if status != 0:
            failed.append(label)
        if label == "usage-refusals":
            found = [json.loads(line) for line in violations.read_text().splitlines()] if violations.exists() else []
            for violation in found[:10]:
                print(f"schema: FAILED — {violation['method']} {violation['path']} answered {violation['status']} "
                      f"and changed state: {'; '.join(violation['differences'])[:600]}")
            if found:
                failed.append(f"nothing-changed ({len(found)} requests)")
            counted = Path(f"{violations}.count")
            lines = counted.read_text().splitlines() if counted.exists() else []
            reads = sum(1 for line in lines if line.startswith("GET "))
            refusals = sum(1 for line in lines if line.endswith(" checked") and not line.startswith("GET "))
            accepted = sum(1 for line in lines if line.endswith(" accepted"))
            print(f"schema: state checked around {reads + refusals} requests ({reads} reads, {refusals} refused "
                  f"POSTs); {accepted} POSTs were accepted (valid but for an extra header, which HTTP lets a server "
                  "ignore) and let settle")
            if not found and reads + refusals == 0:
                failed.append("nothing-changed (no request checked)")
            elif not found:
                print("schema: nothing changed — after each read and each refused input, every table and the local "
                      "Stripe's writes were the same as before it")

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
