#!/usr/bin/env python3
"""Validates every billing event the integration tests saw on the topic against docs/schemas/.

    check_events.py DIR

The tests' topic taps (entitle_test_support::aws::TopicTap) write each message body they receive into
$EVENT_SAMPLES_DIR; this checks them all against docs/schemas/billing-event.schema.json (JSON Schema 2020-12,
with the `jsonschema` package from the venv). Fails when any event is invalid, or when no event was seen.
"""
import collections
import json
import sys
from pathlib import Path

import jsonschema


def main() -> int:
    samples = Path(sys.argv[1])
    schema_path = Path(__file__).resolve().parent.parent / "docs" / "schemas" / "billing-event.schema.json"
    schema = json.loads(schema_path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    files = sorted(samples.glob("*.json")) if samples.is_dir() else []
    if not files:
        print(f"check_events: no published events found in {samples}", file=sys.stderr)
        return 1
    by_type, invalid = collections.Counter(), 0
    for path in files:
        event = json.loads(path.read_text())
        errors = sorted(validator.iter_errors(event), key=lambda e: list(e.path))
        by_type[event.get("type", "?")] += 1
        for error in errors[:3]:
            invalid += 1
            where = "/".join(str(p) for p in error.path) or "(root)"
            print(f"check_events: {path.name}: {where}: {error.message}", file=sys.stderr)
    declared = set(schema["properties"]["type"]["enum"])
    unseen = sorted(declared - set(by_type))
    summary = ", ".join(f"{t} {n}" for t, n in sorted(by_type.items()))
    print(f"check_events: {len(files)} published events validated against the schema ({summary})")
    if unseen:
        print(f"check_events: types no test published: {', '.join(unseen)}")
    if invalid:
        print(f"check_events: {invalid} schema violations", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
