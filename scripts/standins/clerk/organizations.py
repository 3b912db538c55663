"""Organizations in the local Clerk: their shape, memberships' and invitations' shapes, roles and their
permissions, and the v2 session token's organization claim. Everything here runs under LOCK on `STATE`'s
`organizations`, `memberships` ({org id: {user id: membership}}) and `invitations` ({org id: {id: invitation}})."""

from __future__ import annotations

import random
import re
import string

from .state import STATE, new_id, not_found, now_ms

# Clerk's system permissions, all of which `org:admin` has; `org:member` has the two read ones that Clerk's
# default member role holds. Session tokens never carry them (Clerk leaves every `org:sys_*` out).
SYSTEM_PERMISSIONS = (
    "org:sys_profile:manage", "org:sys_profile:delete", "org:sys_memberships:read", "org:sys_memberships:manage",
    "org:sys_domains:read", "org:sys_domains:manage", "org:sys_billing:read", "org:sys_billing:manage")
DEFAULT_ROLES = {
    "org:admin": ("Admin", SYSTEM_PERMISSIONS),
    "org:member": ("Member", ("org:sys_memberships:read", "org:sys_billing:read")),
}
ROLE = re.compile(r"org:[A-Za-z0-9_-]+")
PERMISSION = re.compile(r"org:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+")
SLUG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
IMAGE_URL = "https://img.clerk.com/fake"
INVITATION_TTL_MS = 30 * 86400 * 1000  # Clerk's default: an invitation expires after 30 days


class Refused(Exception):
    """A control API call refused: answered `{"error": {"message"}}` with `status`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.error = {"message": message}


def role_name(role: str) -> str:
    """Clerk's name for a role: `Admin`, `Member`; a custom role's from its key (`org:billing_manager`:
    `Billing manager`)."""
    if role in DEFAULT_ROLES:
        return DEFAULT_ROLES[role][0]
    return role.removeprefix("org:").replace("_", " ").replace("-", " ").capitalize()


def role_permissions(role: str, permissions=None) -> list:
    """The permissions a membership of `role` has: `permissions` when given (a custom role's), else the default
    role's (none for an unknown role)."""
    if permissions is not None:
        if not isinstance(permissions, list) or not all(isinstance(p, str) and PERMISSION.fullmatch(p)
                                                        for p in permissions):
            raise Refused(400, "permissions must be a list of `org:<feature>:<permission>` keys")
        return list(dict.fromkeys(permissions))
    return list(DEFAULT_ROLES.get(role, ("", ()))[1])


def checked_role(role) -> str:
    if not isinstance(role, str) or not ROLE.fullmatch(role):
        raise Refused(400, f"role must be a role key such as org:admin or org:member, not {role!r}")
    return role


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "organization"


def organization(id_: str) -> dict:
    """The stored organization `id_`; Clerk's 404 if there is none."""
    if id_ not in STATE.organizations:
        raise not_found()
    return STATE.organizations[id_]


def members_count(org_id: str) -> int:
    return len(STATE.memberships.get(org_id, {}))


def pending_invitations_count(org_id: str) -> int:
    return sum(1 for i in STATE.invitations.get(org_id, {}).values() if i["status"] == "pending")


def organization_view(org: dict, counts: bool) -> dict:
    """The organization in Clerk's shape; `members_count` and `pending_invitations_count` only with `counts`
    (Clerk includes them when asked: `include_members_count`)."""
    view = {key: org[key] for key in ("object", "id", "name", "slug", "image_url", "has_image")}
    if counts:
        view["members_count"] = members_count(org["id"])
        view["pending_invitations_count"] = pending_invitations_count(org["id"])
    view.update({key: org[key] for key in (
        "max_allowed_memberships", "admin_delete_enabled", "public_metadata", "private_metadata", "created_by",
        "created_at", "updated_at")})
    return view


def new_organization(data: dict) -> dict:
    """Stores a new organization from the control API's `{"id"?, "name", "slug"?, "createdBy"?,
    "public_metadata"?, "private_metadata"?}`; as Clerk does, `createdBy` (a known user) becomes its admin."""
    id_ = data.get("id") or new_id("org_")
    name = data.get("name")
    if not isinstance(id_, str) or not id_.startswith("org_"):
        raise Refused(400, f"an organization id starts with org_, not {id_!r}")
    if not isinstance(name, str) or not name.strip():
        raise Refused(400, "name is required")
    if id_ in STATE.organizations:
        raise Refused(409, f"organization {id_} exists")
    slugs = {o["slug"] for o in STATE.organizations.values()}
    slug = data.get("slug")
    if slug is not None:
        if not isinstance(slug, str) or not SLUG.fullmatch(slug):
            raise Refused(400, "a slug has only lowercase letters, digits and single dashes")
        if slug in slugs:
            raise Refused(409, f"the slug {slug} is taken")
    else:
        slug = slugify(name)
        while slug in slugs:
            slug = f"{slugify(name)}-{''.join(random.choices(string.ascii_lowercase + string.digits, k=6))}"
    created_by = data.get("createdBy")
    if created_by is not None and created_by not in STATE.users:
        raise Refused(404, f"no such user {created_by!r}")
    for name_ in ("public_metadata", "private_metadata"):
        if data.get(name_) is not None and not isinstance(data[name_], dict):
            raise Refused(400, f"{name_} must be an object")
    created = now_ms()
    org = {"object": "organization", "id": id_, "name": name, "slug": slug, "image_url": IMAGE_URL,
           "has_image": False, "max_allowed_memberships": 0, "admin_delete_enabled": True,
           "public_metadata": data.get("public_metadata") or {},
           "private_metadata": data.get("private_metadata") or {},
           "created_by": created_by or "", "created_at": created, "updated_at": created}
    STATE.organizations[id_] = org
    STATE.memberships[id_] = {}
    STATE.invitations[id_] = {}
    if created_by:
        add_membership(org, created_by, "org:admin")
    return org


def update_organization(org: dict, data: dict) -> dict:
    if "name" in data:
        if not isinstance(data["name"], str) or not data["name"].strip():
            raise Refused(400, "name must be a non-empty string")
        org["name"] = data["name"]
    if "slug" in data:
        slug = data["slug"]
        if not isinstance(slug, str) or not SLUG.fullmatch(slug):
            raise Refused(400, "a slug has only lowercase letters, digits and single dashes")
        if any(o["slug"] == slug and o["id"] != org["id"] for o in STATE.organizations.values()):
            raise Refused(409, f"the slug {slug} is taken")
        org["slug"] = slug
    org["updated_at"] = now_ms()
    return org


def delete_organization(org_id: str) -> dict:
    del STATE.organizations[org_id]
    STATE.memberships.pop(org_id, None)
    STATE.invitations.pop(org_id, None)
    return {"object": "organization", "id": org_id, "deleted": True}


def add_membership(org: dict, user_id, role, permissions=None) -> dict:
    if not isinstance(user_id, str):
        raise Refused(400, "userId is required")
    if user_id not in STATE.users:
        raise Refused(404, f"no such user {user_id!r}")
    members = STATE.memberships[org["id"]]
    if user_id in members:
        raise Refused(409, f"user {user_id} is already a member of {org['id']}")
    role = checked_role(role)
    created = now_ms()
    membership = {"id": new_id("orgmem_"), "user_id": user_id, "role": role,
                  "permissions": role_permissions(role, permissions), "public_metadata": {}, "private_metadata": {},
                  "created_at": created, "updated_at": created}
    members[user_id] = membership
    return membership


def remove_membership(org: dict, user_id: str) -> dict:
    """Removes `user_id` from `org`; the membership as it was (Clerk's shape)."""
    view = membership_view(org, membership_of(org, user_id))
    del STATE.memberships[org["id"]][user_id]
    return view


def announce_created(org: dict) -> None:
    """Clerk's webhooks for a new organization: `organization.created`, then the creator's
    `organizationMembership.created`."""
    STATE.emit("organization.created", organization_view(org, counts=False))
    for membership in STATE.memberships[org["id"]].values():
        STATE.emit("organizationMembership.created", membership_view(org, membership))


def membership_of(org: dict, user_id: str) -> dict:
    membership = STATE.memberships[org["id"]].get(user_id)
    if membership is None:
        raise Refused(404, f"user {user_id} is not a member of {org['id']}")
    return membership


def update_membership(org: dict, user_id: str, data: dict) -> dict:
    """A new role (its default permissions unless `permissions` are given), or new permissions for the role."""
    membership = membership_of(org, user_id)
    role = checked_role(data.get("role", membership["role"]))
    if "permissions" in data:
        membership["permissions"] = role_permissions(role, data["permissions"])
    elif role != membership["role"]:
        membership["permissions"] = role_permissions(role)
    membership["role"] = role
    membership["updated_at"] = now_ms()
    return membership


def primary_email(user: dict):
    return next((e["email_address"] for e in user.get("email_addresses", [])
                 if e["id"] == user.get("primary_email_address_id")), None)


def public_user_data(user_id: str) -> dict:
    user = STATE.users.get(user_id) or {}
    primary = primary_email(user)
    return {"user_id": user_id, "first_name": user.get("first_name"), "last_name": user.get("last_name"),
            "profile_image_url": user.get("image_url", IMAGE_URL), "image_url": user.get("image_url", IMAGE_URL),
            "has_image": user.get("has_image", False), "identifier": primary or user.get("username"),
            "username": user.get("username")}


def membership_view(org: dict, membership: dict) -> dict:
    """A membership in Clerk's shape: the organization (without its counts) and the member's public data."""
    return {"object": "organization_membership", "id": membership["id"], "role": membership["role"],
            "role_name": role_name(membership["role"]), "permissions": list(membership["permissions"]),
            "public_metadata": membership["public_metadata"], "private_metadata": membership["private_metadata"],
            "organization": organization_view(org, counts=False),
            "public_user_data": public_user_data(membership["user_id"]),
            "created_at": membership["created_at"], "updated_at": membership["updated_at"]}


def invite(org: dict, data: dict) -> dict:
    """A pending invitation from the control API's `{"email", "role", "inviterUserId"?, "public_metadata"?,
    "private_metadata"?}`."""
    email = data.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise Refused(400, "email is required")
    email = email.strip().lower()
    role = checked_role(data.get("role", "org:member"))
    invitations = STATE.invitations[org["id"]]
    if any(i["email_address"] == email and i["status"] == "pending" for i in invitations.values()):
        raise Refused(409, f"{email} already has a pending invitation to {org['id']}")
    if any(e["email_address"] == email for m in STATE.memberships[org["id"]]
           for e in STATE.users.get(m, {}).get("email_addresses", [])):
        raise Refused(409, f"{email} is already a member of {org['id']}")
    inviter = data.get("inviterUserId")
    if inviter is not None and inviter not in STATE.users:
        raise Refused(404, f"no such user {inviter!r}")
    inviter_data = None
    if inviter:
        member = public_user_data(inviter)
        inviter_data = {key: member[key] for key in
                        ("user_id", "first_name", "last_name", "image_url", "has_image", "identifier")}
    created = now_ms()
    invitation = {"object": "organization_invitation", "id": new_id("orginv_"), "email_address": email,
                  "role": role, "role_name": role_name(role), "organization_id": org["id"], "inviter_id": inviter,
                  "public_inviter_data": inviter_data, "status": "pending",
                  "public_metadata": data.get("public_metadata") or {},
                  "private_metadata": data.get("private_metadata") or {}, "url": None,
                  "expires_at": created + INVITATION_TTL_MS, "created_at": created, "updated_at": created}
    invitations[invitation["id"]] = invitation
    return invitation


def revoke(org: dict, invitation_id: str) -> dict:
    invitation = STATE.invitations[org["id"]].get(invitation_id)
    if invitation is None:
        raise Refused(404, f"no invitation {invitation_id} to {org['id']}")
    if invitation["status"] != "pending":
        raise Refused(409, f"invitation {invitation_id} is {invitation['status']}, not pending")
    invitation["status"] = "revoked"
    invitation["updated_at"] = now_ms()
    return invitation


def session_claims(org: dict, membership: dict) -> dict:
    """Clerk's v2 claims for a session with `org` active: `v: 2` and `o: {id, rol, slg}`; when the membership has
    custom (non-system) permissions, also `o.per` (their permission names), `o.fpm` (per organization feature,
    a bit mask over `per`, least significant bit first) and the features as `fea` (`o:<feature>`)."""
    o = {"id": org["id"], "rol": membership["role"].removeprefix("org:"), "slg": org["slug"]}
    claims = {"v": 2, "o": o}
    custom = [p.split(":", 2)[1:] for p in membership["permissions"] if not p.startswith("org:sys_")]
    if custom:
        features = list(dict.fromkeys(feature for feature, _ in custom))
        names = list(dict.fromkeys(name for _, name in custom))
        masks = [sum(1 << names.index(name) for f, name in custom if f == feature) for feature in features]
        o["per"] = ",".join(names)
        o["fpm"] = ",".join(str(mask) for mask in masks)
        claims["fea"] = ",".join(f"o:{feature}" for feature in features)
    return claims
