"""Stripe's form-encoded parameters: decoding (`a[b][0][c]=x`), the checks every endpoint applies to them
(booleans, integers, strings, enums, metadata), list answers with Stripe's cursors, and `expand[]`."""

from __future__ import annotations

import copy
import json
import re
from urllib.parse import parse_qsl

from .state import STATE, StripeError, missing_param, no_such, public


def decode_form(text: str) -> dict:
    """`a[b][0][c]=x&e[]=y` -> {"a": {"b": [{"c": "x"}]}, "e": ["y"]}; values stay strings, as Stripe's."""
    root: dict = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        head, _, rest = key.partition("[")
        path = [head] + (re.findall(r"\[?([^\[\]]*)\]", rest) if rest else [])
        node = root
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        last = path[-1] if path[-1] != "" else str(len(node))
        node[last] = value
    return listify(root)


def listify(node, key: str = ""):
    if not isinstance(node, dict):
        return node
    items = {k: listify(v, k) for k, v in node.items()}
    if key != "metadata" and items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def as_bool(params: dict, name: str):
    value = params.get(name)
    if value is None or value in ("true", "false"):
        return None if value is None else value == "true"
    raise StripeError(400, f"Invalid boolean: {value}", param=name)


def as_int(value, param: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StripeError(400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param) from None


def merge_metadata(current: dict, update) -> dict:
    """Stripe's rules: keys merge, an empty value deletes its key, `metadata=` (empty) clears everything."""
    if update is None:
        return current
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise StripeError(400, "Invalid object", param="metadata")
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


# ---------------------------------------------------------------- list answers

def page_limit(params: dict) -> int:
    return min(max(as_int(params.get("limit", 10), "limit"), 1), 100)


def list_object(url: str, items: list, params: dict) -> dict:
    limit = page_limit(params)
    return {"object": "list", "data": items[:limit], "has_more": len(items) > limit, "url": url}


def page(url: str, items: list, params: dict, kind: str, keep=None) -> dict:
    """A list answer over `items` (newest first) with Stripe's cursors: `starting_after` / `ending_before`
    name an object of `items` (even one that `keep` filters out), `limit` caps the page, `has_more` says
    whether more lie beyond it in the direction of travel."""
    after, before = params.get("starting_after"), params.get("ending_before")
    if after is not None and before is not None:
        raise StripeError(400, "You may only specify one of these parameters: ending_before, starting_after.",
                          param="ending_before")
    position = {x["id"]: i for i, x in enumerate(items)}
    for param, cursor in (("starting_after", after), ("ending_before", before)):
        if cursor is not None and cursor not in position:
            raise no_such(kind, cursor, param, 400)
    kept = [(i, x) for i, x in enumerate(items) if keep is None or keep(x)]
    limit = page_limit(params)
    if before is not None:
        kept = [x for i, x in kept if i < position[before]]
        return {"object": "list", "data": kept[-limit:], "has_more": len(kept) > limit, "url": url}
    kept = [x for i, x in kept if after is None or i > position[after]]
    return {"object": "list", "data": kept[:limit], "has_more": len(kept) > limit, "url": url}


# ---------------------------------------------------------------- checked params

def cannot_unset(param: str) -> StripeError:
    return StripeError(400, f"You passed an empty string for '{param}'. We assume empty values are an attempt to "
                            f"unset a parameter; however '{param}' cannot be unset. You should remove '{param}' "
                            "from your request or supply a non-empty value.", code="parameter_invalid_empty",
                       param=param)


def required_string(p: dict, key: str, max_length: int = 5000, param: str | None = None) -> str:
    """`p[key]`, a non-empty string; errors name `param` (the key's full name when `p` is a nested hash)."""
    value, param = p.get(key), param or key
    if value is None:
        raise missing_param(param)
    if value == "":
        raise cannot_unset(param)
    return checked_string(value, param, max_length)


def checked_string(value, param: str, max_length: int = 5000):
    if value is not None and not isinstance(value, str):
        raise StripeError(400, f"Invalid string: {json.dumps(value)}", param=param)
    if value is not None and len(value) > max_length:
        raise StripeError(400, f"Invalid string: {value[:20]}...; must be at most {max_length} characters",
                          code="string_length_exceeds_maximum", param=param)
    return value


def optional_string(p: dict, param: str, max_length: int = 5000):
    """A nullable string param: absent -> None, `""` -> None (Stripe's unset)."""
    return checked_string(p.get(param), param, max_length) or None


def as_list(p: dict, param: str):
    value = p.get(param)
    if value is None or value == "":
        return None if value is None else []
    if not isinstance(value, list):
        raise StripeError(400, "Invalid array", param=param)
    return value


def one_of(value, param: str, allowed: tuple):
    if value is not None and value not in allowed:
        choices = ", ".join(allowed[:-1]) + f", or {allowed[-1]}" if len(allowed) > 2 else " or ".join(allowed)
        raise StripeError(400, f"Invalid {param}: must be one of {choices}", param=param)
    return value


def form_values(node):
    """The control API's JSON as the API's decoded form: true -> "true", 3 -> "3" (None stays None)."""
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, dict):
        return {k: form_values(v) for k, v in node.items()}
    if isinstance(node, list):
        return [form_values(v) for v in node]
    return node if node is None else str(node)


PRORATION_BEHAVIORS = ("create_prorations", "none", "always_invoice")


def proration_behavior(p: dict, param: str = "proration_behavior") -> str:
    value = p.get(param, "create_prorations")
    if value not in PRORATION_BEHAVIORS:
        raise StripeError(400, f"Invalid {param}: must be one of {', '.join(PRORATION_BEHAVIORS)}", param=param)
    return value


# ---------------------------------------------------------------- expand[]

def lookup(id_: str):
    from .resources.customers import retrieve_customer  # the resources build on this module

    if id_.startswith("cus_") and id_ in STATE.customers:
        return retrieve_customer({}, id_)
    for prefix, table in (("sub_sched_", STATE.schedules), ("bpc_", STATE.portal_configurations),
                          ("sub_", STATE.subscriptions), ("price_", STATE.prices), ("cs_", STATE.sessions),
                          ("feat_", STATE.features), ("in_", STATE.invoices), ("pi_", STATE.payment_intents),
                          ("pm_", STATE.payment_methods)):
        if id_.startswith(prefix) and id_ in table:
            return public(table[id_]) if prefix in ("sub_", "pm_") else table[id_]
    return STATE.products.get(id_)  # any id: Stripe lets a product be created with an id of the caller's


def expand(node, parts: list) -> None:
    """`expand[]=customer`, `expand[]=data.customer`, `expand[]=line_items`: ids become their objects."""
    if not parts or not isinstance(node, dict):
        return
    from .resources.checkout_sessions import list_checkout_line_items  # the resources build on this module

    head, rest = parts[0], parts[1:]
    if head == "line_items" and node.get("object") == "checkout.session":
        node["line_items"] = list_checkout_line_items({}, node["id"])
    value = node.get(head)
    if isinstance(value, str) and lookup(value) is not None:
        node[head] = value = copy.deepcopy(lookup(value))
    for child in value if isinstance(value, list) else [value]:
        expand(child, rest)
