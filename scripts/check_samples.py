#!/usr/bin/env python3
"""Validates what the tests really saw against the documented schemas (docs/schemas/, JSON Schema 2020-12).

    check_samples.py DIR

DIR/events/*.json: every billing event the integration tests received from the topic
(entitle_test_support::aws::TopicTap) → billing-event.schema.json.
DIR/api/*.json: every billing-api response the tests received ({"route", "status", "body"}, written by
entitle_test_support::http::record_api_response) → billing-api.schema.json (by route and status).
Fails on any violation, or when either kind of sample is missing.
"""
import collections
import json
import sys
from pathlib import Path

import jsonschema
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "schemas"


def load(name: str) -> dict:
    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def report(kind: str, path: Path, errors) -> int:
    count = 0
    for error in errors[:3]:
        count += 1
        where = "/".join(str(p) for p in error.path) or "(root)"
        print(f"check_samples: {kind} {path.name}: {where}: {error.message}", file=sys.stderr)
    return count


def main() -> int:
    root = Path(sys.argv[1])
    events_schema, api_schema = load("billing-event.schema.json"), load("billing-api.schema.json")
    registry = Registry().with_resources(
        [(s["$id"], Resource.from_contents(s)) for s in (events_schema, api_schema)]
    )
    invalid, failed = 0, False

    events = sorted((root / "events").glob("*.json"))
    validator = jsonschema.Draft202012Validator(events_schema, registry=registry)
    by_type = collections.Counter()
    for path in events:
        event = json.loads(path.read_text())
        by_type[event.get("type", "?")] += 1
        invalid += report("event", path, sorted(validator.iter_errors(event), key=lambda e: list(e.path)))
    unseen = sorted(set(events_schema["properties"]["type"]["enum"]) - set(by_type))
    print(f"check_samples: {len(events)} published events valid against billing-event.schema.json"
          f" ({', '.join(f'{t} {n}' for t, n in sorted(by_type.items()))})")
    if unseen:
        print(f"check_samples: event types no test published: {', '.join(unseen)}")

    responses = sorted((root / "api").glob("*.json"))
    by_kind = collections.Counter()
    for path in responses:
        sample = json.loads(path.read_text())
        route, status = sample["route"], sample["status"]
        definition = route if status == 200 else "error"
        if status == 204:  # CORS preflight: no body
            continue
        by_kind[f"{definition} {status}"] += 1
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"{api_schema['$id']}#/$defs/{definition}"}, registry=registry
        )
        invalid += report("response", path, sorted(validator.iter_errors(sample["body"]), key=lambda e: list(e.path)))
    print(f"check_samples: {len(responses)} billing-api responses valid against billing-api.schema.json"
          f" ({', '.join(f'{k} x{n}' for k, n in sorted(by_kind.items()))})")

    if not events or not responses:
        print("check_samples: no samples found: did the tests run with SAMPLES_DIR set?", file=sys.stderr)
        failed = True
    if invalid:
        print(f"check_samples: {invalid} schema violations", file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
