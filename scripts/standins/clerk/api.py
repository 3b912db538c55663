"""Clerk's Backend API: GET /v1/users (`email_address`), POST /v1/users, GET /v1/users/{id}, PATCH
/v1/users/{id}/metadata (deep merge); POST /v1/organizations, GET /v1/organizations/{id or slug}, PATCH
/v1/organizations/{id}/metadata, GET|POST /v1/organizations/{id}/memberships, PATCH|DELETE
/v1/organizations/{id}/memberships/{user id}, GET /v1/organizations/{id}/invitations (lists paginated,
filtered); authentication, injected failures, --latency-ms, Clerk's error shape. The writes send Clerk's webhooks
(`user.created`, `organization.created`, `organizationMembership.created|updated|deleted`) as Clerk does."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, unquote

from ..http import match_route, routes
from . import organizations as orgs
from . import settings
from .state import (
    LOCK,
    METADATA,
    STATE,
    ClerkError,
    deep_merge,
    injected_error,
    invalid_param,
    not_found,
    now_ms,
    user_object,
)


def get_user(body, id_):
    return STATE.user(id_)


def clerk_error(e: orgs.Refused, code: str = "form_param_format_invalid") -> ClerkError:
    """A refusal of the organizations' code, in Clerk's shape: 404 `resource_not_found`, else a 422."""
    if e.status == 404:
        return not_found()
    return ClerkError(422, code, "is invalid", e.error["message"])


def required(body, name: str):
    if not isinstance(body, dict) or body.get(name) in (None, ""):
        raise ClerkError(422, "form_param_missing", "missing required parameter",
                         f"{name} must be included.", {"param_name": name})
    return body[name]


def create_user(body):
    """`POST /v1/users` {"email_address": [...], "first_name"?, "last_name"?, "username"?, "external_id"?,
    "public_metadata"?, ...}: the user, and Clerk's `user.created` webhook. 422 `form_identifier_exists` for an
    address another user has."""
    emails = body.get("email_address") or []
    if isinstance(emails, str):
        emails = [emails]
    if not isinstance(emails, list) or not all(isinstance(e, str) and "@" in e for e in emails):
        raise invalid_param("email_address", "email_address must be a list of email addresses")
    emails = [e.strip().lower() for e in emails]
    taken = {a["email_address"] for u in STATE.users.values() for a in u["email_addresses"]}
    if any(e in taken for e in emails):
        raise ClerkError(422, "form_identifier_exists", "That email address is taken. Please try another.",
                         "That email address is taken. Please try another.", {"param_name": "email_address"})
    for name in METADATA:
        if body.get(name) is not None and not isinstance(body[name], dict):
            raise invalid_param(name, f"{name} must be a valid JSON object")
    user = user_object({"email": emails[0] if emails else None, **{k: body.get(k) for k in (
        "first_name", "last_name", "username", "external_id", *METADATA)}})
    STATE.users[user["id"]] = user
    STATE.emit("user.created", user)
    return user


def create_organization(body):
    """`POST /v1/organizations` {"name", "created_by"?, "slug"?, "public_metadata"?, "private_metadata"?}: the
    organization (`created_by` becomes its admin), and the webhooks `organization.created` and, for the admin,
    `organizationMembership.created`."""
    required(body, "name")
    try:
        org = orgs.new_organization({"name": body["name"], "slug": body.get("slug"),
                                     "createdBy": body.get("created_by"),
                                     "public_metadata": body.get("public_metadata"),
                                     "private_metadata": body.get("private_metadata")})
    except orgs.Refused as e:
        raise clerk_error(e, "form_identifier_exists" if e.status == 409 else "form_param_format_invalid") from None
    orgs.announce_created(org)
    return orgs.organization_view(org, counts=False)


def create_membership(body, id_):
    """`POST /v1/organizations/{id}/memberships` {"user_id", "role"}: the membership, and
    `organizationMembership.created`. 422 `already_a_member_in_organization` for a member."""
    org = orgs.organization(id_)
    user_id, role = required(body, "user_id"), required(body, "role")
    try:
        membership = orgs.add_membership(org, user_id, role)
    except orgs.Refused as e:
        raise clerk_error(e, "already_a_member_in_organization" if e.status == 409 else
                          "form_param_format_invalid") from None
    view = orgs.membership_view(org, membership)
    STATE.emit("organizationMembership.created", view)
    return view


def update_membership(body, id_, user_id):
    """`PATCH /v1/organizations/{id}/memberships/{user_id}` {"role"}: `organizationMembership.updated`."""
    org = orgs.organization(id_)
    role = required(body, "role")
    try:
        membership = orgs.update_membership(org, user_id, {"role": role})
    except orgs.Refused as e:
        raise clerk_error(e) from None
    view = orgs.membership_view(org, membership)
    STATE.emit("organizationMembership.updated", view)
    return view


def delete_membership(body, id_, user_id):
    """`DELETE /v1/organizations/{id}/memberships/{user_id}`: the removed membership, and
    `organizationMembership.deleted`."""
    org = orgs.organization(id_)
    try:
        view = orgs.remove_membership(org, user_id)
    except orgs.Refused as e:
        raise clerk_error(e) from None
    STATE.emit("organizationMembership.deleted", view)
    return view


def merge_metadata(target: dict, body, names) -> None:
    """Clerk's PATCH .../metadata: each of `names` given as an object is deep-merged into `target`'s."""
    if not isinstance(body, dict):
        raise ClerkError(400, "malformed_request", "malformed request", "The request body is not a JSON object.")
    for name in names:
        if name in body and body[name] is not None and not isinstance(body[name], dict):
            raise invalid_param(name, f"{name} must be a valid JSON object")
    for name in names:
        if isinstance(body.get(name), dict):
            target[name] = deep_merge(target[name], body[name])
    target["updated_at"] = now_ms()


def update_user_metadata(body, id_):
    user = STATE.user(id_)
    merge_metadata(user, body, METADATA)
    return user


def list_users(query):
    wanted = {e.lower() for e in query.get("email_address", [])}
    users = [u for u in STATE.users.values()
             if not wanted or any((a["email_address"] or "").lower() in wanted for a in u["email_addresses"])]
    return sorted(users, key=lambda u: u["created_at"], reverse=True)


def flag(query, name: str) -> bool:
    return (query.get(name) or [""])[0].lower() in ("true", "1")


def integer(query, name: str, default: int, low: int, high: int | None) -> int:
    """The query parameter `name` as an integer in [low, high]; Clerk's 422 naming it otherwise."""
    values = query.get(name)
    if not values:
        return default
    bounds = f"between {low} and {high}" if high is not None else f"greater than or equal to {low}"
    try:
        value = int(values[0])
    except ValueError:
        raise invalid_param(name, f"{name} must be an integer {bounds}") from None
    if value < low or (high is not None and value > high):
        raise invalid_param(name, f"{name} must be an integer {bounds}")
    return value


def page(query, items: list, keys: dict, default_order: str = "-created_at") -> dict:
    """Clerk's paginated list: `items` ordered by `order_by` (one of `keys`, `+` (implied) or `-` for the
    direction; ties newest first), then `offset` and `limit` (1-500, default 10); `total_count` counts them all."""
    limit = integer(query, "limit", 10, 1, 500)
    offset = integer(query, "offset", 0, 0, None)
    order = (query.get("order_by") or [default_order])[0]
    field = order.lstrip("+- ")  # a `+` arrives as a space unless the client encoded it
    if field not in keys:
        raise invalid_param("order_by", f"order_by must be one of {', '.join(sorted(keys))}, optionally "
                                        "prefixed with + or -")
    key = keys[field]

    def sort_key(item):
        value = key(item)
        return (value is None, value if value is not None else "")

    ordered = sorted(reversed(items), key=sort_key, reverse=order.startswith("-"))
    return {"data": ordered[offset:offset + limit], "total_count": len(ordered)}


def organization_by_id_or_slug(id_or_slug: str) -> dict:
    if id_or_slug in STATE.organizations:
        return STATE.organizations[id_or_slug]
    found = next((o for o in STATE.organizations.values() if o["slug"] == id_or_slug), None)
    if found is None:
        raise not_found()
    return found


def get_organization(query, id_or_slug):
    return orgs.organization_view(organization_by_id_or_slug(id_or_slug), flag(query, "include_members_count"))


def update_organization_metadata(body, id_):
    org = orgs.organization(id_)
    merge_metadata(org, body, ("public_metadata", "private_metadata"))
    return orgs.organization_view(org, counts=False)


def user_field(name: str):
    def value(membership):
        user = STATE.users.get(membership["user_id"]) or {}
        if name == "email_address":
            return orgs.primary_email(user)
        if name == "phone_number":
            return None  # the fake's users have no phone numbers
        return user.get(name)
    return value


def list_memberships(query, id_):
    """Filters: `user_id` (repeatable; `-id` excludes, `+id` or `id` includes), `role`, `email_address`,
    `username` (each repeatable, any of them) and `query` (a part of the user's id, email, username or names)."""
    org = orgs.organization(id_)
    members = list(STATE.memberships[org["id"]].values())
    ids = [v.strip() for v in query.get("user_id", [])]  # a `+` arrives as a space unless it was encoded
    included = {v.lstrip("+") for v in ids if not v.startswith("-")}
    excluded = {v[1:] for v in ids if v.startswith("-")}
    roles = set(query.get("role", []))
    emails = {e.lower() for e in query.get("email_address", [])}
    usernames = set(query.get("username", []))
    text = (query.get("query") or [""])[0].lower()

    def matches(membership) -> bool:
        user = STATE.users.get(membership["user_id"]) or {}
        addresses = [(a["email_address"] or "").lower() for a in user.get("email_addresses", [])]
        searched = [membership["user_id"], user.get("username"), user.get("first_name"), user.get("last_name"),
                    *addresses]
        return ((not included or membership["user_id"] in included) and membership["user_id"] not in excluded
                and (not roles or membership["role"] in roles)
                and (not emails or any(a in emails for a in addresses))
                and (not usernames or user.get("username") in usernames)
                and (not text or any(text in (s or "").lower() for s in searched)))

    keys = {"created_at": lambda m: m["created_at"]}
    keys.update({name: user_field(name) for name in
                 ("email_address", "first_name", "last_name", "username", "phone_number")})
    listed = page(query, [m for m in members if matches(m)], keys)
    listed["data"] = [orgs.membership_view(org, m) for m in listed["data"]]
    return listed


def list_invitations(query, id_):
    """Filters: `status` (repeatable) and `email_address`."""
    org = orgs.organization(id_)
    statuses = set(query.get("status", []))
    email = (query.get("email_address") or [""])[0].lower()
    invitations = [i for i in STATE.invitations[org["id"]].values()
                   if (not statuses or i["status"] in statuses) and (not email or i["email_address"] == email)]
    return page(query, invitations, {"created_at": lambda i: i["created_at"],
                                     "email_address": lambda i: i["email_address"]})


ROUTES = routes([
    ("GET", r"/v1/users", list_users),
    ("POST", r"/v1/users", create_user),
    ("GET", r"/v1/users/([^/]+)", get_user),
    ("PATCH", r"/v1/users/([^/]+)/metadata", update_user_metadata),
    ("POST", r"/v1/organizations", create_organization),
    ("GET", r"/v1/organizations/([^/]+)", get_organization),
    ("PATCH", r"/v1/organizations/([^/]+)/metadata", update_organization_metadata),
    ("GET", r"/v1/organizations/([^/]+)/memberships", list_memberships),
    ("POST", r"/v1/organizations/([^/]+)/memberships", create_membership),
    ("PATCH", r"/v1/organizations/([^/]+)/memberships/([^/]+)", update_membership),
    ("DELETE", r"/v1/organizations/([^/]+)/memberships/([^/]+)", delete_membership),
    ("GET", r"/v1/organizations/([^/]+)/invitations", list_invitations),
])


def authenticate(header) -> None:
    scheme, _, credential = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not credential.startswith("sk_test_"):
        raise ClerkError(401, "authentication_invalid", "Invalid authentication",
                         "Unable to authenticate the request, you need to supply an active API key")


def find_route(method: str, path: str):
    route = match_route(ROUTES, method, path)
    if route:
        handler, groups = route
        return lambda body: handler(body, *(unquote(group) for group in groups))
    raise not_found()


def api(method: str, path: str, raw: str, headers, query: str = ""):
    """Answers one /v1 request: (status, body text); the webhooks it caused are sent after (send_outbox)."""
    try:
        authenticate(headers.get("Authorization"))
        endpoint = find_route(method, path)
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise ClerkError(400, "malformed_request", "malformed request",
                             "The request body is not valid JSON.") from None
        if method == "GET":  # a GET's parameters are its query string
            body = parse_qs(query)
    except ClerkError as e:
        return e.status, e.body()
    if settings.LATENCY_S:
        time.sleep(settings.LATENCY_S)
    with LOCK:
        failure = STATE.take_failure(method, path)
        if failure:
            return failure.status, failure.body()
        try:
            return 200, json.dumps(endpoint(body))
        except ClerkError as e:
            STATE.take_outbox()  # a refused write changed nothing, so it announces nothing
            return e.status, e.body()
        except Exception as e:  # a bug in the fake: answer like Clerk's 500
            STATE.take_outbox()
            return 500, injected_error(500).body().replace("(injected by the fake)", repr(e))
