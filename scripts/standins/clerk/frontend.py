"""What the demo app's page asks of Clerk's Frontend API (what ClerkJS does for `<OrganizationSwitcher>`), for a
signed-in user: authenticated by the session token (`Authorization: Bearer <token>`; ClerkJS uses the client's
cookie instead), with CORS for the page's origin (the token's `azp`).

  GET  /v1/me                                  the user (Clerk's user object)
  GET  /v1/me/organization_memberships         `{"data": [membership], "total_count"}`: the user's organizations
                                               (`user.getOrganizationMemberships()`), oldest first
  POST /v1/organizations {"name", "slug"?}     a new organization whose admin is the user
                                               (`Clerk.createOrganization()`); Clerk's webhooks
                                               `organization.created` and `organizationMembership.created`
  POST /v1/client/sessions/{sid}/touch         `{"active_organization_id": "org_…" | null}`: the session's active
                                               organization (`Clerk.setActive({organization})`), only one the user
                                               is a member of (else 404, nothing changed); answers the session
                                               with `last_active_token: {"object": "token", "jwt"}`, a fresh token
                                               with (or without) the organization's claims
  POST /v1/client/sessions/{sid}/tokens        a fresh token of the session for its active organization
                                               (`session.getToken()`); a membership gone since drops it

The session is the token's `sid`: another session's id is a 404. A token that is not the fake's, expired, or of an
ended session is a 401 in Clerk's shape."""

from __future__ import annotations

import base64
import json
import time

from . import organizations as orgs
from .signin import session_token, signing_key
from .state import STATE, ClerkError, not_found


def unauthenticated() -> ClerkError:
    return ClerkError(401, "authentication_invalid", "Invalid authentication",
                      "The session token is missing, not valid or expired: sign in again.")


def b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def session_of(authorization) -> dict:
    """The active session whose token is `authorization` (`Bearer <jwt>`), or Clerk's 401."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or token.count(".") != 2:
        raise unauthenticated()
    head, body, signature = token.split(".")
    try:
        signing_key().private.public_key().verify(b64decode(signature), f"{head}.{body}".encode(),
                                                  padding.PKCS1v15(), hashes.SHA256())
        claims = json.loads(b64decode(body))
    except Exception:
        raise unauthenticated() from None
    session = STATE.sessions.get(claims.get("sid"))
    if (session is None or session["status"] != "active" or claims.get("exp", 0) <= time.time()
            or session["user_id"] != claims.get("sub") or session["user_id"] not in STATE.users):
        raise unauthenticated()
    return session


def memberships_of(user_id: str) -> list:
    """(organization, membership) of every organization `user_id` belongs to, oldest membership first."""
    found = [(STATE.organizations[org_id], members[user_id]) for org_id, members in STATE.memberships.items()
             if user_id in members and org_id in STATE.organizations]
    return sorted(found, key=lambda pair: pair[1]["created_at"])


def org_claims(session: dict):
    """The claims of the session's active organization; None (and the organization dropped) when there is none
    or the user is no longer its member."""
    org_id = session.get("last_active_organization_id")
    org = STATE.organizations.get(org_id) if org_id else None
    membership = STATE.memberships.get(org_id, {}).get(session["user_id"]) if org else None
    if membership is None:
        session["last_active_organization_id"] = None
        return None
    return orgs.session_claims(org, membership)


def session_view(session: dict, jwt: str) -> dict:
    view = {key: value for key, value in session.items() if not key.startswith("_")}
    view["last_active_token"] = {"object": "token", "jwt": jwt}
    return view


def frontend(method: str, path: str, body: dict, authorization):
    """(status, JSON-able body) of one Frontend API call; runs under LOCK. Raises ClerkError."""
    session = session_of(authorization)
    user_id = session["user_id"]
    if (method, path) == ("GET", "/v1/me"):
        return 200, STATE.users[user_id]
    if (method, path) == ("GET", "/v1/me/organization_memberships"):
        data = [orgs.membership_view(org, m) for org, m in memberships_of(user_id)]
        return 200, {"data": data, "total_count": len(data)}
    if (method, path) == ("POST", "/v1/organizations"):
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ClerkError(422, "form_param_missing", "missing required parameter", "name must be included.",
                             {"param_name": "name"})
        try:
            org = orgs.new_organization({"name": name.strip(), "slug": body.get("slug"), "createdBy": user_id})
        except orgs.Refused as e:
            raise ClerkError(422, "form_identifier_exists" if e.status == 409 else "form_param_format_invalid",
                             "is invalid", e.error["message"], {"param_name": "slug"}) from None
        orgs.announce_created(org)
        return 200, orgs.organization_view(org, counts=True)
    parts = path.split("/")
    if method == "POST" and len(parts) == 6 and parts[1:4] == ["v1", "client", "sessions"] \
            and parts[5] in ("touch", "tokens"):
        if parts[4] != session["id"]:
            raise not_found()
        if parts[5] == "touch" and "active_organization_id" in body:
            wanted = body["active_organization_id"] or None
            if wanted is not None:
                org = STATE.organizations.get(wanted) or next(
                    (o for o in STATE.organizations.values() if o["slug"] == wanted), None)
                if org is None or user_id not in STATE.memberships.get(org["id"], {}):
                    # Clerk activates only an organization the user belongs to.
                    raise not_found()
                wanted = org["id"]
            session["last_active_organization_id"] = wanted
        jwt, _ = session_token(session, org_claims(session))
        if parts[5] == "tokens":
            return 200, {"object": "token", "jwt": jwt}
        return 200, session_view(session, jwt)
    raise not_found()


def is_frontend(path: str) -> bool:
    return (path == "/v1/me" or path.startswith("/v1/me/") or path.startswith("/v1/client/")
            or path == "/v1/organizations")


def uses_session_token(method: str, path: str, authorization) -> bool:
    """Whether a request is for the Frontend API: its path is one of these, and its credential is a session token
    (the Backend API's is a secret key, `sk_…`) or it is the page's CORS preflight."""
    if not is_frontend(path):
        return False
    if method == "OPTIONS":
        return True
    _, _, credential = (authorization or "").partition(" ")
    return path != "/v1/organizations" or credential.count(".") == 2
