"""Webhook endpoints: create (its secret in that answer only), retrieve, update, delete, list."""

from __future__ import annotations

import re

from ..forms import merge_metadata, page, required_string
from ..state import STATE, StripeError, missing_param, new_id, no_such, now

WEBHOOK_EVENT_TYPE = re.compile(r"^(\*|[a-z_]+(\.[a-z_]+)+)$")


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
    endpoint = {"id": new_id("we_", 24), "object": "webhook_endpoint",
                "api_version": p.get("api_version"), "application": None, "created": now(),
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
    if "enabled_events" in p:
        endpoint["enabled_events"] = webhook_events(p)
    if "url" in p:
        endpoint["url"] = required_string(p, "url", 5000)
    if "metadata" in p:
        endpoint["metadata"] = merge_metadata(endpoint["metadata"], p["metadata"])
    return endpoint


def delete_webhook_endpoint(p, id_):
    retrieve_webhook_endpoint(p, id_)
    del STATE.webhook_endpoints[id_]
    return {"id": id_, "object": "webhook_endpoint", "deleted": True}


def list_webhook_endpoints(p):
    return page("/v1/webhook_endpoints", list(reversed(STATE.webhook_endpoints.values())), p, "webhook_endpoint")
