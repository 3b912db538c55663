"""The local Clerk's state: ids, Clerk's errors, the one `STATE` behind one `LOCK` (users, organizations with
their memberships and invitations, sessions, injected failures, the request log) and users' shape (organizations'
is in organizations.py)."""

from __future__ import annotations

import copy
import json
import random
import string
import threading
import time

ALPHANUMERIC = string.ascii_letters + string.digits
LOCK = threading.Lock()
METADATA = ("public_metadata", "private_metadata", "unsafe_metadata")
INSTANCE_ID = "ins_" + "".join(random.choices(ALPHANUMERIC, k=27))


def new_id(prefix: str, length: int = 27) -> str:
    return prefix + "".join(random.choices(ALPHANUMERIC, k=length))


def now_ms() -> int:
    return int(time.time() * 1000)


class ClerkError(Exception):
    """An error answered in Clerk's shape."""

    def __init__(self, status: int, code: str, message: str, long_message: str, meta=None):
        super().__init__(long_message)
        self.status = status
        self.error = {"message": message, "long_message": long_message, "code": code}
        if meta:
            self.error["meta"] = meta

    def body(self) -> str:
        return json.dumps({"errors": [self.error], "clerk_trace_id": new_id("", 32).lower()})


def not_found() -> ClerkError:
    return ClerkError(404, "resource_not_found", "not found", "Resource not found")


def invalid_param(name: str, long_message: str) -> ClerkError:
    return ClerkError(422, "form_param_format_invalid", "is invalid", long_message, {"param_name": name})


def injected_error(status: int) -> ClerkError:
    if status == 429:
        return ClerkError(429, "too_many_requests", "Too Many Requests",
                          "Too many requests, please try again later (injected by the fake).")
    if status >= 500:
        return ClerkError(status, "internal_clerk_error", "Oops, an unexpected error occurred",
                          "There was an internal error on our servers (injected by the fake).")
    return ClerkError(status, "request_failed", f"injected {status}", f"Injected failure with status {status}.")


def deep_merge(target: dict, patch: dict) -> dict:
    """Clerk's metadata merge (RFC 7396's rules): objects merge key by key, null deletes, the rest replaces."""
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict):
            current = merged.get(key)
            merged[key] = deep_merge(current if isinstance(current, dict) else {}, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class State:
    """Everything the fake knows, behind LOCK. There is one, STATE; POST /__fake/reset empties it in place."""

    def __init__(self):
        self.users: dict = {}
        self.organizations: dict = {}
        self.memberships: dict = {}  # {organization id: {user id: membership}}, in the order they were made
        self.invitations: dict = {}  # {organization id: {invitation id: invitation}}, likewise
        self.sessions: dict = {}
        self.outbox: list = []  # (event type, data) to send as webhooks once the request's LOCK is released
        self.failures: list = []
        self.requests: list = []
        self.deliveries: list = []  # every webhook delivery attempt, in the order made (GET /__fake/deliveries)

    def reset(self) -> None:
        """Forgets everything (the same object, so every module's `STATE` sees the fresh state)."""
        self.__init__()

    def take_failure(self, method: str, path: str):
        for rule in self.failures:
            if rule["count"] > 0 and path.startswith(rule["path_prefix"]) and rule["method"] in (None, method):
                rule["count"] -= 1
                return injected_error(rule["status"])
        return None

    def emit(self, type_: str, data: dict) -> None:
        """Queues Clerk's webhook `type_` with a copy of `data` as it is now; sent once the request is done."""
        self.outbox.append((type_, copy.deepcopy(data)))

    def take_outbox(self) -> list:
        taken, self.outbox = self.outbox, []
        return taken

    def user(self, id_: str) -> dict:
        if id_ not in self.users:
            raise not_found()
        return self.users[id_]


STATE = State()


def user_object(data: dict) -> dict:
    """A user in Clerk's shape, with what the control API was given; the rest as for a fresh sign-up."""
    created = now_ms()
    email = data.get("email")
    email_id = new_id("idn_") if email else None
    return {
        "id": data.get("id") or new_id("user_"), "object": "user", "username": data.get("username"),
        "first_name": data.get("first_name"), "last_name": data.get("last_name"),
        "image_url": "https://img.clerk.com/fake", "has_image": False,
        "primary_email_address_id": email_id, "primary_phone_number_id": None, "primary_web3_wallet_id": None,
        "password_enabled": False, "two_factor_enabled": False, "totp_enabled": False,
        "backup_code_enabled": False,
        "email_addresses": [{"id": email_id, "object": "email_address", "email_address": email,
                             "verification": {"status": "verified", "strategy": "email_code"},
                             "linked_to": []}] if email else [],
        "phone_numbers": [], "web3_wallets": [], "external_accounts": [],
        "public_metadata": data.get("public_metadata") or {},
        "private_metadata": data.get("private_metadata") or {},
        "unsafe_metadata": data.get("unsafe_metadata") or {},
        "external_id": data.get("external_id"), "last_sign_in_at": None, "banned": False, "locked": False,
        "created_at": created, "updated_at": created, "last_active_at": None,
    }
