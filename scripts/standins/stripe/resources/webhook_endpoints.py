"""Webhook endpoints: create (its secret in that answer only), retrieve, update, delete, list.

An endpoint's `api_version` is set at its creation (null: the account's default version) and, as at Stripe,
cannot be changed: the update takes only `description`, `disabled`, `enabled_events`, `metadata` and `url`, and
refuses any other parameter (`Received unknown parameter: api_version`). `disabled=true` makes `status`
"disabled"."""

from __future__ import annotations

import re

from ..forms import merge_metadata, page, required_string
from ..state import STATE, StripeError, missing_param, new_id, no_such, now

WEBHOOK_EVENT_TYPE = re.compile(r"^(\*|[a-z_]+(\.[a-z_]+)+)$")
# Stripe's versions: a date, and since 2024-09-30 the release's name (2025-03-31.basil).
API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
UPDATABLE = {"description", "disabled", "enabled_events", "metadata", "url", "expand"}


def webhook_events(p: dict) -> list:
    events = p.get("enabled_events")
    if not isinstance(events, list) or not events:
        raise missing_param("enabled_events")
    for event in events:
        if not isinstance(event, str) or not WEBHOOK_EVENT_TYPE.match(event):
            raise StripeError(400, f"Invalid enabled_events: {event!r} is not a valid event type.",
                              param="enabled_events")
    return events


def create_webhook_endpoint(p):
    url = required_string(p, "url", 5000)
    if not url.startswith("https://"):
        raise StripeError(400, "Invalid URL: URL must be publicly accessible and use https.", param="url")
    version = p.get("api_version")
    if version is not None and not (isinstance(version, str) and API_VERSION.match(version)):
        raise StripeError(400, f"Invalid api_version: {version!r}", param="api_version")
    endpoint = {"id": new_id("we_", 24), "object": "webhook_endpoint",
                "api_version": version, "application": None, "created": now(),
                "description": p.get("description"), "enabled_events": webhook_events(p), "livemode": False,
                "metadata": merge_metadata({}, p.get("metadata")), "status": "enabled", "url": url}
    STATE.webhook_endpoints[endpoint["id"]] = endpoint
    # The signing secret is in the answer to the create only, as Stripe's.
    return {**endpoint, "secret": "whsec_" + new_id("", 32)}


def retrieve_webhook_endpoint(p, id_):
    if id_ not in STATE.webhook_endpoints:
        raise no_such("webhook_endpoint", id_)
    return STATE.webhook_endpoints[id_]


def update_webhook_endpoint(p, id_):
    endpoint = retrieve_webhook_endpoint(p, id_)
    for param in sorted(p):
        if param not in UPDATABLE:
            raise StripeError(400, f"Received unknown parameter: {param}", param=param)
    if "disabled" in p:
        if p["disabled"] not in ("true", "false"):
            raise StripeError(400, "Invalid boolean: " + str(p["disabled"]), param="disabled")
        endpoint["status"] = "disabled" if p["disabled"] == "true" else "enabled"
    if "description" in p:
        endpoint["description"] = p["description"] or None
    if "enabled_events" in p:
        endpoint["enabled_events"] = webhook_events(p)
    if "url" in p:
        url = required_string(p, "url", 5000)
        if not url.startswith("https://"):
            raise StripeError(400, "Invalid URL: URL must be publicly accessible and use https.", param="url")
        endpoint["url"] = url
    if "metadata" in p:
        endpoint["metadata"] = merge_metadata(endpoint["metadata"], p["metadata"])
    return endpoint


def delete_webhook_endpoint(p, id_):
    retrieve_webhook_endpoint(p, id_)
    del STATE.webhook_endpoints[id_]
    return {"id": id_, "object": "webhook_endpoint", "deleted": True}


def list_webhook_endpoints(p):
    return page("/v1/webhook_endpoints", list(reversed(STATE.webhook_endpoints.values())), p, "webhook_endpoint")
