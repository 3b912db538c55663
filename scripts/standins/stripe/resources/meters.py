"""Billing meters (create, update, deactivate, reactivate, list) and meter events, checked at once where
Stripe defers some checks to its meter error reports."""

from __future__ import annotations

import re
import uuid

from ..forms import as_int, one_of, page, required_string
from ..state import STATE, StripeError, missing_param, new_id, no_such, now


def retrieve_meter(p, id_, param: str = "id", status: int = 404):
    if id_ not in STATE.meters:
        raise no_such("billing.meter", id_, param, status)
    return STATE.meters[id_]


def payload_key_settings(p: dict, param: str, default: dict, extra: tuple = ()) -> dict:
    """`customer_mapping` / `value_settings`: when given, each of its fields is required."""
    raw = p.get(param)
    if raw is None:
        return dict(default)
    if not isinstance(raw, dict):
        raise StripeError(400, "Invalid object", param=param)
    settings = {"event_payload_key": required_string(raw, "event_payload_key", 100,
                                                     f"{param}[event_payload_key]")}
    for field, allowed in extra:
        if raw.get(field) is None:
            raise missing_param(f"{param}[{field}]")
        settings[field] = one_of(raw[field], f"{param}[{field}]", allowed)
    return settings


def create_meter(p):
    display_name, event_name = required_string(p, "display_name", 250), required_string(p, "event_name", 100)
    aggregation = p.get("default_aggregation")
    if aggregation is None:
        raise missing_param("default_aggregation")
    formula = aggregation.get("formula") if isinstance(aggregation, dict) else None
    if formula is None:
        raise missing_param("default_aggregation[formula]")
    one_of(formula, "default_aggregation[formula]", ("count", "last", "sum"))
    mapping = payload_key_settings(p, "customer_mapping", {"event_payload_key": "stripe_customer_id",
                                                           "type": "by_id"}, (("type", ("by_id",)),))
    value = payload_key_settings(p, "value_settings", {"event_payload_key": "value"})
    window = one_of(p.get("event_time_window") or None, "event_time_window", ("day", "hour"))
    if any(m["event_name"] == event_name for m in STATE.meters.values()):
        raise StripeError(400, f"A meter with event_name `{event_name}` already exists.",
                          code="resource_already_exists", param="event_name")
    stamp = now()
    meter = {"id": new_id("mtr_test_", 24), "object": "billing.meter", "created": stamp,
             "customer_mapping": {"event_payload_key": mapping["event_payload_key"], "type": mapping["type"]},
             "default_aggregation": {"formula": formula}, "display_name": display_name, "event_name": event_name,
             "event_time_window": window, "livemode": False, "status": "active",
             "status_transitions": {"deactivated_at": None}, "updated": stamp, "value_settings": value}
    STATE.meters[meter["id"]] = meter
    return meter


def update_meter(p, id_):
    meter = retrieve_meter(p, id_)
    if "display_name" in p:
        meter.update(display_name=required_string(p, "display_name", 250), updated=now())
    return meter


def deactivate_meter(p, id_):
    meter = retrieve_meter(p, id_)
    if meter["status"] == "active":
        stamp = now()
        meter.update(status="inactive", updated=stamp, status_transitions={"deactivated_at": stamp})
    return meter


def reactivate_meter(p, id_):
    meter = retrieve_meter(p, id_)
    if meter["status"] == "inactive":
        meter.update(status="active", updated=now(), status_transitions={"deactivated_at": None})
    return meter


def list_meters(p):
    status = one_of(p.get("status"), "status", ("active", "inactive"))
    return page("/v1/billing/meters", list(reversed(STATE.meters.values())), p, "billing.meter",
                lambda m: status in (None, m["status"]))


METER_EVENT_PAST_S, METER_EVENT_FUTURE_S = 35 * 86400, 5 * 60


def create_meter_event(p):
    """Checked synchronously here what Stripe partly checks later (its meter error reports): an active meter
    for `event_name`, an existing customer under the meter's customer key, a whole-number value."""
    event_name = required_string(p, "event_name", 100)
    payload = p.get("payload")
    if payload is None:
        raise missing_param("payload")
    if not isinstance(payload, dict):
        raise StripeError(400, "Invalid object", param="payload")
    identifier = required_string(p, "identifier", 100) if p.get("identifier") is not None else None
    stamp = now()
    timestamp = stamp if p.get("timestamp") is None else as_int(p["timestamp"], "timestamp")
    if timestamp < stamp - METER_EVENT_PAST_S:
        raise StripeError(400, "The timestamp must be within the past 35 calendar days.",
                          code="timestamp_too_far_in_past", param="timestamp")
    if timestamp > stamp + METER_EVENT_FUTURE_S:
        raise StripeError(400, "The timestamp must not be more than 5 minutes in the future.",
                          code="timestamp_in_future", param="timestamp")
    meter = next((m for m in STATE.meters.values() if m["event_name"] == event_name), None)
    if meter is None:
        raise StripeError(400, f"No active meter found for event_name `{event_name}`.", code="no_meter",
                          param="event_name")
    if meter["status"] != "active":
        raise StripeError(400, f"The meter `{meter['id']}` for event_name `{event_name}` is inactive and no longer "
                               "accepts meter events.", code="archived_meter", param="event_name")
    customer_key = meter["customer_mapping"]["event_payload_key"]
    value_key = meter["value_settings"]["event_payload_key"]
    if payload.get(customer_key) in (None, ""):
        raise StripeError(400, f"The payload is missing `{customer_key}`, which the meter `{meter['id']}` maps to a "
                               "customer.", code="meter_event_no_customer_defined", param=f"payload[{customer_key}]")
    STATE.customer(payload[customer_key], f"payload[{customer_key}]", 400)
    value = payload.get(value_key)
    if value is None and meter["default_aggregation"]["formula"] != "count":
        raise StripeError(400, f"The payload is missing `{value_key}`, the meter `{meter['id']}`'s value key.",
                          code="meter_event_value_not_found", param=f"payload[{value_key}]")
    if value is not None and not (isinstance(value, str) and re.fullmatch(r"\d+", value)):
        raise StripeError(400, f"Invalid value `{value}` for `{value_key}`: the value must be a whole number.",
                          code="meter_event_invalid_value", param=f"payload[{value_key}]")
    if identifier in STATE.meter_identifiers:
        raise StripeError(400, f"An event already exists with identifier {identifier}.", param="identifier")
    identifier = identifier or str(uuid.uuid4())
    STATE.meter_identifiers.add(identifier)
    event = {"object": "billing.meter_event", "created": stamp, "event_name": event_name, "identifier": identifier,
             "livemode": False, "payload": dict(payload), "timestamp": timestamp}
    STATE.meter_events.append(event)
    return event
