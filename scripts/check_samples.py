#!/usr/bin/env python3
"""Validates what the tests really saw against the documented schemas (docs/schemas/, JSON Schema 2020-12).

    check_samples.py DIR

DIR/events/*.json: every billing event the integration tests received from the topic
(entitle_test_support::aws::TopicTap) → billing-event.schema.json.
DIR/api/*.json: every billing-api response the tests received ({"route", "status", "body"}, written by
entitle_test_support::http::record_api_response) → billing-api.schema.json (by route and status, for the
routes it defines) and docs/openapi.yaml.
DIR/usage-api/*.json: every usage-api response ({"method", "path", "status", "body"}, written by
entitle_test_support::http::record_usage_response) → docs/openapi.yaml.
DIR/requests/*.json: every request body a test sent ({"method", "path", "status", "body"}, written by
entitle_test_support::http::record_request) → the operation's requestBody in docs/openapi.yaml, for every one the
function accepted (2xx): the document accepts every body the code does.
DIR/types/*.json: every answer type of billing-api and usage-api with all its optional fields present
({"schema", "body"}, written by their contract tests) → the document's schema of that name, both ways: the body
is valid there (no property the document lacks: every object schema is additionalProperties: false), and
every property the document declares is present (none the type lacks). That is how the types and
docs/openapi.yaml are one contract: the document is the source (people and generated clients read it), the
types are checked against it.
The OpenAPI document is validated first (openapi-spec-validator); a response is checked against the schema of
its operation's response for its status, else the operation's `default`.
Fails on any violation, or when any kind of sample is missing.
"""
import collections
import json
import re
import sys
from pathlib import Path

import jsonschema
import referencing.jsonschema
import yaml
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource

DOCS = Path(__file__).resolve().parent.parent / "docs"
SCHEMAS = DOCS / "schemas"
OPENAPI_ID = "urn:entitle:openapi"


class OpenApi:
    """The operations of docs/openapi.yaml, found by method and the last path segments of a request."""

    def __init__(self, path: Path):
        self.doc = yaml.safe_load(path.read_text())
        validate_openapi(self.doc)
        self.registry = Registry().with_resource(
            OPENAPI_ID, Resource.from_contents(self.doc, default_specification=referencing.jsonschema.DRAFT202012)
        )
        self.routes = []
        for template, item in self.doc["paths"].items():
            segments = [("[^/]+" if seg.startswith("{") else re.escape(seg)) for seg in template.strip("/").split("/")]
            pattern = re.compile("(^|/)" + "/".join(segments) + "/?$")
            for method in item:
                if method in ("get", "post", "put", "patch", "delete"):
                    self.routes.append((pattern, method, template))

    def operation(self, method: str, path: str):
        """The (template, method) of the operation, or of the path's only operation (a 405 names no method)."""
        path = path.split("?", 1)[0]
        # The most specific template wins: `/v1/usage` (usage-api) over `/usage` (billing-api).
        matches = sorted(
            ((t, m) for (r, m, t) in self.routes if r.search(path)), key=lambda tm: -len(tm[0].split("/"))
        )
        exact = [(t, m) for (t, m) in matches if m == method.lower()]
        return (exact or matches or [None])[0]

    def request_validator(self, template: str, method: str):
        """The validator of the operation's JSON request body, or None when it takes none."""
        body = self.doc["paths"][template][method].get("requestBody")
        if not body:
            return None
        pointer = "/".join(p.replace("~", "~0").replace("/", "~1") for p in ["paths", template, method, "requestBody"])
        if "$ref" in body:
            pointer = body["$ref"].lstrip("#/")
        return jsonschema.Draft202012Validator(
            {"$ref": f"{OPENAPI_ID}#/{pointer}/content/application~1json/schema"}, registry=self.registry
        )

    def error_validator(self):
        return jsonschema.Draft202012Validator(
            {"$ref": f"{OPENAPI_ID}#/components/schemas/Error"}, registry=self.registry
        )

    def validator(self, template: str, method: str, status: int):
        responses = self.doc["paths"][template][method]["responses"]
        key = str(status) if str(status) in responses else "default"
        pointer = "/".join(
            p.replace("~", "~0").replace("/", "~1") for p in ["paths", template, method, "responses", key]
        )
        response = responses[key]
        if "$ref" in response:
            pointer = response["$ref"].lstrip("#/")
        return jsonschema.Draft202012Validator(
            {"$ref": f"{OPENAPI_ID}#/{pointer}/content/application~1json/schema"}, registry=self.registry
        ), key


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


# The response schemas the answer types must match; a missing sample fails the check.
TYPED_SCHEMAS = ["ChangePreview", "Checkout", "Decision", "Entitlements", "Error", "Plans", "Portal",
                 "SubscriptionState", "UsageList"]


def declared_but_absent(doc: dict, schema: dict, body, where: str):
    """Every property `schema` declares (through $ref, allOf and nullable oneOf) that `body` lacks, recursively."""
    if "$ref" in schema:
        target = doc
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        yield from declared_but_absent(doc, target, body, where)
        return
    for key in ("allOf", "oneOf"):
        for branch in schema.get(key, []):
            kind = branch.get("type")
            if kind == "null" or body is None:
                continue
            yield from declared_but_absent(doc, branch, body, where)
    if isinstance(body, dict):
        for name, sub in schema.get("properties", {}).items():
            if name not in body:
                yield f"{where}.{name}"
            else:
                yield from declared_but_absent(doc, sub, body[name], f"{where}.{name}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, value in body.items():
                yield from declared_but_absent(doc, extra, value, f"{where}.{name}")
    if isinstance(body, list) and isinstance(schema.get("items"), dict):
        for i, value in enumerate(body):
            yield from declared_but_absent(doc, schema["items"], value, f"{where}[{i}]")


def check_requests(openapi, directory: Path) -> int:
    """Every request body a function accepted (2xx) is valid against its operation's requestBody."""
    samples = sorted(directory.glob("*.json"))
    invalid = 0
    checked = collections.Counter()
    for path in samples:
        sample = json.loads(path.read_text())
        if not 200 <= sample["status"] < 300:
            continue
        found = openapi.operation(sample["method"], sample["path"])
        if found is None:
            continue
        template, method = found
        validator = openapi.request_validator(template, method)
        if validator is None:
            continue
        checked[f"{method.upper()} {template}"] += 1
        invalid += report("request", path, sorted(validator.iter_errors(sample["body"]), key=lambda e: list(e.path)))
    if not checked:
        print("check_samples: no accepted request body was recorded", file=sys.stderr)
        return 1
    print(f"check_samples: {sum(checked.values())} accepted request bodies valid against docs/openapi.yaml"
          f" ({', '.join(f'{k} x{n}' for k, n in sorted(checked.items()))})")
    return invalid


def check_types(openapi, directory: Path) -> int:
    invalid, seen = 0, collections.Counter()
    for path in sorted(directory.glob("*.json")):
        sample = json.loads(path.read_text())
        name, body = sample["schema"], sample["body"]
        seen[name] += 1
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"{OPENAPI_ID}#/components/schemas/{name}"}, registry=openapi.registry
        )
        invalid += report("answer type", path, sorted(validator.iter_errors(body), key=lambda e: list(e.path)))
        schema = openapi.doc["components"]["schemas"][name]
        for missing in declared_but_absent(openapi.doc, schema, body, name):
            print(f"check_samples: answer type {path.name}: {missing} is in docs/openapi.yaml but not in the type",
                  file=sys.stderr)
            invalid += 1
    for name in TYPED_SCHEMAS:
        if not seen[name]:
            print(f"check_samples: no answer type was kept for the schema {name}", file=sys.stderr)
            invalid += 1
    print(f"check_samples: {sum(seen.values())} answer types checked both ways against docs/openapi.yaml"
          f" ({', '.join(f'{k} x{n}' for k, n in sorted(seen.items()))})")
    return invalid


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
        subject = event.get("subject")
        if subject is not None and subject.get("id") != event.get("userId"):
            print(f"check_samples: {path}: subject.id {subject.get('id')!r} is not userId {event.get('userId')!r}")
            invalid += 1
    unseen = sorted(set(events_schema["properties"]["type"]["enum"]) - set(by_type))
    print(f"check_samples: {len(events)} published events valid against billing-event.schema.json"
          f" ({', '.join(f'{t} {n}' for t, n in sorted(by_type.items()))})")
    if unseen:
        print(f"check_samples: event types no test published: {', '.join(unseen)}")

    openapi = OpenApi(DOCS / "openapi.yaml")
    print("check_samples: docs/openapi.yaml is a valid OpenAPI 3.1 document")
    checked = collections.Counter()

    def against_openapi(kind: str, path: Path, method: str, request_path: str, status: int, body) -> int:
        operation = openapi.operation(method, request_path)
        if operation is None and status >= 400:
            # An unknown route: no operation, but the error shape is the document's all the same.
            checked["(no route) error"] += 1
            return report(kind, path, sorted(openapi.error_validator().iter_errors(body), key=lambda e: list(e.path)))
        if operation is None:
            print(f"check_samples: {kind} {path.name}: {method} {request_path} is in no path of docs/openapi.yaml",
                  file=sys.stderr)
            return 1
        template, op_method = operation
        validator, key = openapi.validator(template, op_method, status)
        checked[f"{op_method.upper()} {template} {key}"] += 1
        return report(kind, path, sorted(validator.iter_errors(body), key=lambda e: list(e.path)))

    billing_methods = {"checkout": "post", "portal": "post", "entitlements": "get", "usage": "get"}
    responses = sorted((root / "api").glob("*.json"))
    by_kind = collections.Counter()
    for path in responses:
        sample = json.loads(path.read_text())
        route, status = sample["route"], sample["status"]
        definition = route if status == 200 else "error"
        if status == 204:  # CORS preflight: no body
            continue
        # `subscription_cancel` is the sample name of POST /subscription/cancel, `entitlements_history` of
        # GET /entitlements/history.
        nested = route.startswith(("subscription_", "entitlements_"))
        request_path = "/" + (route.replace("_", "/", 1) if nested else route)
        method = "post" if route.startswith("subscription_") else billing_methods.get(route, "get")
        invalid += against_openapi("response", path, method, request_path, status,
                                   sample["body"])
        if definition not in api_schema["$defs"]:
            continue  # a route the older JSON Schema predates: docs/openapi.yaml alone describes it
        by_kind[f"{definition} {status}"] += 1
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"{api_schema['$id']}#/$defs/{definition}"}, registry=registry
        )
        invalid += report("response", path, sorted(validator.iter_errors(sample["body"]), key=lambda e: list(e.path)))
    print(f"check_samples: {len(responses)} billing-api responses valid against billing-api.schema.json"
          f" ({', '.join(f'{k} x{n}' for k, n in sorted(by_kind.items()))})")

    usage = sorted((root / "usage-api").glob("*.json"))
    for path in usage:
        sample = json.loads(path.read_text())
        if sample["status"] == 204:
            continue
        invalid += against_openapi("usage-api response", path, sample["method"], sample["path"], sample["status"],
                                   sample["body"])
    print(f"check_samples: {len(responses) + len(usage)} billing-api and usage-api responses checked against"
          f" docs/openapi.yaml ({', '.join(f'{k} x{n}' for k, n in sorted(checked.items()))})")
    unseen = sorted(
        f"{m.upper()} {t}" for t, item in openapi.doc["paths"].items() for m in item
        if m in ("get", "post") and not any(k.startswith(f"{m.upper()} {t} ") for k in checked)
    )
    if unseen:
        print(f"check_samples: operations no test recorded a response of: {', '.join(unseen)}")

    invalid += check_requests(openapi, root / "requests")
    invalid += check_types(openapi, root / "types")

    if not events or not responses or not usage:
        print("check_samples: no samples found: did the tests run with SAMPLES_DIR set?", file=sys.stderr)
        failed = True
    if invalid:
        print(f"check_samples: {invalid} schema violations", file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
