"""The control API for tests (no auth, JSON): /__fake/users, /__fake/organizations (and their memberships and
invitations), /__fake/sessions, /__fake/fail, /__fake/requests, /__fake/reset (see `control`)."""

from __future__ import annotations

from urllib.parse import unquote

from ..http import match_route, routes
from . import organizations as orgs
from .organizations import Refused
from .settings import SESSION_TTL_S
from .signin import new_session
from .state import STATE, user_object


def organization(id_: str) -> dict:
    if id_ not in STATE.organizations:
        raise Refused(404, f"no such organization {id_!r}")
    return STATE.organizations[id_]


def create_organization(data):
    return orgs.organization_view(orgs.new_organization(data), counts=True)


def get_organization(data, id_):
    return orgs.organization_view(organization(id_), counts=True)


def update_organization(data, id_):
    return orgs.organization_view(orgs.update_organization(organization(id_), data), counts=True)


def delete_organization(data, id_):
    organization(id_)
    return orgs.delete_organization(id_)


def add_member(data, id_):
    org = organization(id_)
    return orgs.membership_view(org, orgs.add_membership(org, data.get("userId"), data.get("role", "org:member"),
                                                         data.get("permissions")))


def update_member(data, id_, user_id):
    org = organization(id_)
    return orgs.membership_view(org, orgs.update_membership(org, user_id, data))


def remove_member(data, id_, user_id):
    return orgs.remove_membership(organization(id_), user_id)


def invite(data, id_):
    return orgs.invite(organization(id_), data)


def revoke_invitation(data, id_, invitation_id):
    return orgs.revoke(organization(id_), invitation_id)


ORGANIZATION_ROUTES = routes([
    ("POST", r"/__fake/organizations", create_organization),
    ("GET", r"/__fake/organizations/([^/]+)", get_organization),
    ("PATCH", r"/__fake/organizations/([^/]+)", update_organization),
    ("DELETE", r"/__fake/organizations/([^/]+)", delete_organization),
    ("POST", r"/__fake/organizations/([^/]+)/memberships", add_member),
    ("PATCH", r"/__fake/organizations/([^/]+)/memberships/([^/]+)", update_member),
    ("DELETE", r"/__fake/organizations/([^/]+)/memberships/([^/]+)", remove_member),
    ("POST", r"/__fake/organizations/([^/]+)/invitations", invite),
    ("DELETE", r"/__fake/organizations/([^/]+)/invitations/([^/]+)", revoke_invitation),
])


def new_control_session(data: dict):
    user_id = data.get("userId")
    if user_id not in STATE.users:
        return 404, {"error": {"message": f"no such user {user_id!r}"}}
    org_id = data.get("orgId")
    org_claims = None
    if org_id is not None:
        org = organization(org_id)
        membership = STATE.memberships[org["id"]].get(user_id)
        if membership is None:  # Clerk only activates an organization the user belongs to
            raise Refused(404, f"user {user_id} is not a member of {org_id}, so it cannot be their active one")
        org_claims = orgs.session_claims(org, membership)
    ttl = int(data.get("ttlSeconds") or SESSION_TTL_S)
    token, sid, exp = new_session(user_id, data.get("azp"), ttl, org_claims)
    answer = {"token": token, "sessionId": sid, "userId": user_id, "expiresAt": exp}
    if org_id is not None:
        answer["orgId"] = org_id
    return 200, answer


def control(method: str, path: str, data: dict):
    """(status, JSON-able body). Runs under LOCK. A refused call answers `{"error": {"message"}}`.

    POST /__fake/users {"id"?, "email"?, "first_name"?, "last_name"?, "public_metadata"?, ...}: creates a user
        (409 if the id exists) and returns it.
    GET /__fake/users/{id}: the stored user, metadata included; 404 if unknown.
    POST /__fake/organizations {"id"? (org_...), "name", "slug"?, "createdBy"?, "public_metadata"?,
        "private_metadata"?}: creates an organization (409 if the id or slug exists; the slug is made from the
        name when not given) and returns it, with `members_count` and `pending_invitations_count`. As Clerk
        does, `createdBy` (a known user, else 404) becomes its first member, `org:admin`.
    GET /__fake/organizations/{id}: the stored organization, with its counts; 404 if unknown.
    PATCH /__fake/organizations/{id} {"name"?, "slug"?}: renames it; returns it.
    DELETE /__fake/organizations/{id}: deletes it, its memberships and invitations; returns Clerk's
        `{"object": "organization", "id", "deleted": true}`.
    POST /__fake/organizations/{id}/memberships {"userId", "role"?: "org:member", "permissions"?: [...]}: makes
        the user a member (404 for an unknown organization or user, 409 if already one) and returns the
        membership in Clerk's shape. `org:admin` has every system permission (`org:sys_*`), `org:member`
        `org:sys_memberships:read` and `org:sys_billing:read`; `permissions` replace the role's (a custom role,
        e.g. `org:billing` with `["org:sys_billing:manage", "org:reports:read"]`).
    PATCH /__fake/organizations/{id}/memberships/{userId} {"role"?, "permissions"?}: a new role (with its
        default permissions unless `permissions` are given) or new permissions; returns the membership.
    DELETE /__fake/organizations/{id}/memberships/{userId}: removes the member; returns the membership.
    POST /__fake/organizations/{id}/invitations {"email", "role"?: "org:member", "inviterUserId"?,
        "public_metadata"?, "private_metadata"?}: a pending invitation in Clerk's shape (409 if that address
        already has a pending one or is a member's).
    DELETE /__fake/organizations/{id}/invitations/{invitationId}: revokes it (status `revoked`; 409 if it is
        not pending); returns it.
    POST /__fake/sessions {"userId", "azp"?, "ttlSeconds"?, "orgId"?}: a session of a known user (404 if
        unknown) and its session token, as sign-in makes them: {"token", "sessionId", "userId", "expiresAt"}
        (and "orgId"). With `orgId` (404 unless the user is a member) the token carries Clerk's v2 organization
        claims: `"v": 2`, `"o": {"id", "rol" (the role without `org:`), "slg"}`, and for custom permissions
        `o.per`, `o.fpm` and `fea`; system permissions are never in it.
    POST /__fake/fail {"count": 2, "status": 503, "path_prefix": "/v1/users", "method"?: "PATCH"}: the next
        `count` matching /v1 requests (after authentication) answer `status` in Clerk's error shape and change
        nothing.
    GET /__fake/requests: every /v1 request so far: {"method", "path", "body" (JSON, or the raw text if it is
        not JSON, or null), "status", "authorization", "contentType", "userAgent"}.
    GET /__fake/deliveries: every webhook delivery attempt so far: {"event" (the svix-id), "type", "attempt",
        "status" (null when the endpoint could not be reached), "ok", "duration_ms"}.
    POST /__fake/reset: forgets everything.

    None of these sends a webhook: they set up state. The Backend API's writes (POST /v1/users, /v1/organizations,
    .../memberships…), the Frontend-like routes' POST /v1/organizations and the sign-in page's sign-ups send
    Clerk's webhooks.
    """
    try:
        return answer(method, path, data)
    except Refused as e:
        return e.status, {"error": e.error}


def answer(method: str, path: str, data: dict):
    if (method, path) == ("POST", "/__fake/users"):
        user = user_object(data)
        if user["id"] in STATE.users:
            return 409, {"error": {"message": f"user {user['id']} exists"}}
        STATE.users[user["id"]] = user
        return 200, user
    if method == "GET" and path.startswith("/__fake/users/"):
        user = STATE.users.get(unquote(path[len("/__fake/users/"):]))
        return (200, user) if user else (404, {"error": {"message": "no such user"}})
    route = match_route(ORGANIZATION_ROUTES, method, path)
    if route:
        handler, groups = route
        return 200, handler(data, *(unquote(group) for group in groups))
    if (method, path) == ("POST", "/__fake/sessions"):
        return new_control_session(data)
    if (method, path) == ("POST", "/__fake/fail"):
        STATE.failures.append({"count": int(data.get("count", 1)), "status": int(data.get("status", 500)),
                               "path_prefix": data.get("path_prefix", "/v1"),
                               "method": data["method"].upper() if data.get("method") else None})
        return 200, {"ok": True}
    if (method, path) == ("GET", "/__fake/requests"):
        return 200, STATE.requests
    if (method, path) == ("GET", "/__fake/deliveries"):
        return 200, STATE.deliveries
    if (method, path) == ("POST", "/__fake/reset"):
        STATE.reset()
        return 200, {"ok": True}
    return 404, {"error": {"message": f"no control endpoint {method} {path}"}}
