"""Tests of scripts/fake_clerk.py's organizations: the Backend API's organization, membership and invitation
routes (shapes, pagination, filters, metadata merge, authentication), the control API that makes them, the v2
organization claims of the session tokens it mints, the webhooks the Backend API's writes send (Svix-signed, in
Clerk's payload shapes) and the Frontend-like routes the demo app's organization switcher uses.

    .venv/bin/python -m unittest scripts/test_fake_clerk.py

Each test starts its own fake (`--port 0`) as a subprocess.
"""

from __future__ import annotations

import base64
import json
import queue
import subprocess
import sys
import threading
import unittest
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from standins.signing import svix_signature  # noqa: E402

SCRIPT = Path(__file__).resolve().parent / "fake_clerk.py"
KEY = "sk_test_entitle_fake"
ORG = "org_2teamACME"
ADMIN_PERMISSIONS = [
    "org:sys_profile:manage", "org:sys_profile:delete", "org:sys_memberships:read", "org:sys_memberships:manage",
    "org:sys_domains:read", "org:sys_domains:manage", "org:sys_billing:read", "org:sys_billing:manage"]
MEMBER_PERMISSIONS = ["org:sys_memberships:read", "org:sys_billing:read"]


class Fake:
    def __init__(self, *flags: str):
        self.process = subprocess.Popen([sys.executable, str(SCRIPT), "--port", "0", *flags],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("listening on "):
            self.process.kill()
            raise RuntimeError(f"the fake did not start: {line!r}")
        self.base = f"http://127.0.0.1:{int(line.split()[-1])}"

    def close(self):
        self.process.kill()
        self.process.wait()
        self.process.stdout.close()

    def raw(self, method, path, data: bytes | None = None, headers: dict | None = None):
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def api(self, method, path, body=None, query: list | dict | None = None, key: str | None = KEY):
        """A Backend API call: (status, JSON answer)."""
        if query:
            path = f"{path}?{urllib.parse.urlencode(query, doseq=True)}"
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = json.dumps(body).encode() if body is not None else None
        status, text = self.raw(method, path, data, headers)
        return status, json.loads(text)

    def ok(self, method, path, body=None, query=None):
        status, answer = self.api(method, path, body, query)
        assert status == 200, (status, answer)
        return answer

    def try_control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        status, text = self.raw(method, path, data, {"Content-Type": "application/json"})
        return status, json.loads(text)

    def control(self, method, path, body=None):
        status, answer = self.try_control(method, path, body)
        assert status == 200, (status, answer)
        return answer


def claims(token: str) -> dict:
    """The JWT's payload, unverified."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class FakeClerkCase(unittest.TestCase):
    def setUp(self):
        self.fake = Fake()
        self.addCleanup(self.fake.close)

    def user(self, id_: str, **fields) -> dict:
        return self.fake.control("POST", "/__fake/users", {"id": id_, **fields})

    def team(self, *members: str) -> dict:
        """ORG ("Acme Team") with `members` as `org:member`s (each made a user first)."""
        org = self.fake.control("POST", "/__fake/organizations", {"id": ORG, "name": "Acme Team"})
        for member in members:
            self.user(member)
            self.member(member)
        return org

    def member(self, user: str, role: str = "org:member", **extra) -> dict:
        return self.fake.control("POST", f"/__fake/organizations/{ORG}/memberships",
                                 {"userId": user, "role": role, **extra})

    def memberships(self, **query) -> dict:
        return self.fake.ok("GET", f"/v1/organizations/{ORG}/memberships", query=query)

    def error_code(self, method, path, status: int, body=None, query=None) -> str:
        got, answer = self.fake.api(method, path, body, query)
        self.assertEqual(got, status, answer)
        self.assertIn("clerk_trace_id", answer)
        return answer["errors"][0]["code"]


class Organizations(FakeClerkCase):
    def test_an_organization_in_clerks_shape_with_counts_only_when_asked(self):
        self.user("user_owner", email="owner@example.com")
        created = self.fake.control("POST", "/__fake/organizations",
                                    {"id": ORG, "name": "Acme Team", "createdBy": "user_owner"})
        self.assertEqual(created["slug"], "acme-team")
        self.assertEqual((created["members_count"], created["pending_invitations_count"]), (1, 0))
        org = self.fake.ok("GET", f"/v1/organizations/{ORG}")
        self.assertEqual(org["object"], "organization")
        for key, value in {"id": ORG, "name": "Acme Team", "has_image": False, "max_allowed_memberships": 0,
                           "admin_delete_enabled": True, "public_metadata": {}, "private_metadata": {},
                           "created_by": "user_owner"}.items():
            self.assertEqual(org[key], value, key)
        self.assertTrue(org["image_url"].startswith("https://"))
        self.assertGreater(org["created_at"], 10**12, "milliseconds")
        self.assertNotIn("members_count", org)
        counted = self.fake.ok("GET", "/v1/organizations/acme-team", query={"include_members_count": "true"})
        self.assertEqual((counted["id"], counted["members_count"], counted["pending_invitations_count"]),
                         (ORG, 1, 0))
        # The creator is its admin, as in Clerk.
        [admin] = self.memberships()["data"]
        self.assertEqual((admin["public_user_data"]["user_id"], admin["role"]), ("user_owner", "org:admin"))
        self.assertEqual(admin["public_user_data"]["identifier"], "owner@example.com")

    def test_unknown_organizations_are_404_and_made_ones_refuse_duplicates(self):
        self.assertEqual(self.error_code("GET", "/v1/organizations/org_nope", 404), "resource_not_found")
        for path in ("memberships", "invitations"):
            self.assertEqual(self.error_code("GET", f"/v1/organizations/org_nope/{path}", 404),
                             "resource_not_found")
        self.assertEqual(self.error_code("PATCH", "/v1/organizations/org_nope/metadata", 404, {}),
                         "resource_not_found")
        self.team()
        status, _ = self.fake.try_control("POST", "/__fake/organizations", {"id": ORG, "name": "Again"})
        self.assertEqual(status, 409)
        self.assertEqual(self.fake.try_control("GET", "/__fake/organizations/org_nope")[0], 404)
        status, _ = self.fake.try_control("POST", f"/__fake/organizations/{ORG}/memberships",
                                          {"userId": "user_nobody", "role": "org:member"})
        self.assertEqual(status, 404)

    def test_unauthenticated_backend_requests_are_401(self):
        self.team("user_a")
        for key in (None, "pk_test_public", "sk_live_nope"):
            status, answer = self.fake.api("GET", f"/v1/organizations/{ORG}/memberships", key=key)
            self.assertEqual(status, 401, key)
            self.assertEqual(answer["errors"][0]["code"], "authentication_invalid")

    def test_rename_and_delete(self):
        self.team("user_a")
        self.assertEqual(self.fake.control("PATCH", f"/__fake/organizations/{ORG}", {"name": "Acme"})["name"],
                         "Acme")
        self.assertEqual(self.fake.ok("GET", f"/v1/organizations/{ORG}")["name"], "Acme")
        self.assertEqual(self.fake.control("DELETE", f"/__fake/organizations/{ORG}"),
                         {"object": "organization", "id": ORG, "deleted": True})
        self.assertEqual(self.error_code("GET", f"/v1/organizations/{ORG}/memberships", 404), "resource_not_found")

    def test_reset_forgets_organizations(self):
        self.team("user_a")
        self.fake.control("POST", "/__fake/reset")
        self.assertEqual(self.fake.try_control("GET", f"/__fake/organizations/{ORG}")[0], 404)
        self.assertEqual(self.error_code("GET", f"/v1/organizations/{ORG}", 404), "resource_not_found")
        # The same id can be made again, empty.
        self.assertEqual(self.team()["members_count"], 0)

    def test_injected_failures_apply_to_organizations(self):
        self.team("user_a")
        self.fake.control("POST", "/__fake/fail", {"count": 1, "status": 503, "path_prefix": "/v1/organizations"})
        self.assertEqual(self.error_code("GET", f"/v1/organizations/{ORG}/memberships", 503),
                         "internal_clerk_error")
        self.assertEqual(self.memberships()["total_count"], 1)


class Metadata(FakeClerkCase):
    def test_a_deep_merge_where_null_deletes(self):
        self.team()
        self.fake.ok("PATCH", f"/v1/organizations/{ORG}/metadata",
                     {"public_metadata": {"plan": "team", "limits": {"seats": 5, "projects": 3}},
                      "private_metadata": {"stripeCustomerId": "cus_1", "old": True}})
        org = self.fake.ok("PATCH", f"/v1/organizations/{ORG}/metadata",
                           {"public_metadata": {"limits": {"seats": 10, "projects": None}},
                            "private_metadata": {"old": None}})
        self.assertEqual(org["public_metadata"], {"plan": "team", "limits": {"seats": 10}})
        self.assertEqual(org["private_metadata"], {"stripeCustomerId": "cus_1"})
        self.assertEqual(self.fake.control("GET", f"/__fake/organizations/{ORG}")["public_metadata"],
                         {"plan": "team", "limits": {"seats": 10}})

    def test_a_metadata_that_is_not_an_object_is_422(self):
        self.team()
        status, answer = self.fake.api("PATCH", f"/v1/organizations/{ORG}/metadata", {"public_metadata": [1]})
        self.assertEqual(status, 422)
        self.assertEqual(answer["errors"][0]["meta"], {"param_name": "public_metadata"})


class Memberships(FakeClerkCase):
    def test_total_count_counts_every_member_whatever_the_page(self):
        self.team("user_a", "user_b", "user_c")
        listed = self.memberships(limit=1)
        self.assertEqual((len(listed["data"]), listed["total_count"]), (1, 3))
        self.assertEqual(listed["data"][0]["public_user_data"]["user_id"], "user_c", "newest first")
        rest = self.memberships(limit=5, offset=1)
        self.assertEqual([m["public_user_data"]["user_id"] for m in rest["data"]], ["user_b", "user_a"])
        self.assertEqual(rest["total_count"], 3)
        oldest = self.memberships(order_by="created_at")
        self.assertEqual([m["public_user_data"]["user_id"] for m in oldest["data"]], ["user_a", "user_b", "user_c"])
        self.assertEqual(self.memberships(offset=10), {"data": [], "total_count": 3})

    def test_limit_and_offset_out_of_clerks_range_are_422(self):
        self.team("user_a")
        for query in ({"limit": 0}, {"limit": 501}, {"limit": "ten"}, {"offset": -1}):
            status, answer = self.fake.api("GET", f"/v1/organizations/{ORG}/memberships", query=query)
            self.assertEqual(status, 422, query)
            self.assertEqual(answer["errors"][0]["code"], "form_param_format_invalid")
            self.assertEqual(answer["errors"][0]["meta"], {"param_name": next(iter(query))})
        self.assertEqual(self.memberships(limit=500)["total_count"], 1)
        for query in ({"limit": 0}, {"limit": 501}):
            self.assertEqual(self.error_code("GET", f"/v1/organizations/{ORG}/invitations", 422, query=query),
                             "form_param_format_invalid")

    def test_filters_count_only_their_matches(self):
        self.team("user_a", "user_b", "user_c")
        self.fake.control("PATCH", f"/__fake/organizations/{ORG}/memberships/user_b", {"role": "org:admin"})
        listed = self.memberships(user_id="user_b")
        self.assertEqual(listed["total_count"], 1)
        self.assertEqual(listed["data"][0]["public_user_data"]["user_id"], "user_b")
        both = self.fake.ok("GET", f"/v1/organizations/{ORG}/memberships",
                            query=[("user_id", "user_a"), ("user_id", "user_c"), ("user_id", "user_nobody")])
        self.assertEqual(sorted(m["public_user_data"]["user_id"] for m in both["data"]), ["user_a", "user_c"])
        self.assertEqual(both["total_count"], 2)
        self.assertEqual(self.memberships(user_id="-user_a")["total_count"], 2)
        self.assertEqual(self.memberships(user_id="user_nobody"), {"data": [], "total_count": 0})
        admins = self.memberships(role="org:admin")
        self.assertEqual([m["public_user_data"]["user_id"] for m in admins["data"]], ["user_b"])
        self.assertEqual(self.memberships(role="org:member")["total_count"], 2)

    def test_members_have_the_default_roles_permissions_and_admins_every_system_one(self):
        self.team("user_member")
        self.user("user_admin", first_name="Ada", last_name="Lovelace", email="ada@example.com")
        admin = self.member("user_admin", "org:admin")
        self.assertEqual((admin["object"], admin["role"], admin["role_name"]),
                         ("organization_membership", "org:admin", "Admin"))
        self.assertTrue(admin["id"].startswith("orgmem_"))
        self.assertEqual(sorted(admin["permissions"]), sorted(ADMIN_PERMISSIONS))
        self.assertEqual(admin["organization"]["id"], ORG)
        self.assertEqual(admin["public_user_data"], {
            "user_id": "user_admin", "first_name": "Ada", "last_name": "Lovelace",
            "profile_image_url": admin["public_user_data"]["image_url"],
            "image_url": admin["public_user_data"]["image_url"], "has_image": False,
            "identifier": "ada@example.com", "username": None})
        [member] = self.memberships(user_id="user_member")["data"]
        self.assertEqual((member["role"], member["role_name"]), ("org:member", "Member"))
        self.assertEqual(sorted(member["permissions"]), sorted(MEMBER_PERMISSIONS))
        self.assertNotIn("org:sys_billing:manage", member["permissions"])
        self.assertEqual((member["public_metadata"], member["private_metadata"]), ({}, {}))

    def test_a_custom_role_has_exactly_its_given_permissions(self):
        self.team()
        self.user("user_billing")
        custom = self.member("user_billing", "org:billing", permissions=["org:sys_billing:manage"])
        self.assertEqual((custom["role"], custom["role_name"], custom["permissions"]),
                         ("org:billing", "Billing", ["org:sys_billing:manage"]))
        [listed] = self.memberships(role="org:billing")["data"]
        self.assertEqual(listed["permissions"], ["org:sys_billing:manage"])
        # A new role without permissions takes that role's defaults.
        changed = self.fake.control("PATCH", f"/__fake/organizations/{ORG}/memberships/user_billing",
                                    {"role": "org:member"})
        self.assertEqual(sorted(changed["permissions"]), sorted(MEMBER_PERMISSIONS))

    def test_members_count_follows_adds_and_removals_and_a_member_cannot_join_twice(self):
        self.team("user_a", "user_b")
        count = self.fake.control("GET", f"/__fake/organizations/{ORG}")["members_count"]
        self.assertEqual(count, 2)
        status, _ = self.fake.try_control("POST", f"/__fake/organizations/{ORG}/memberships",
                                          {"userId": "user_a", "role": "org:admin"})
        self.assertEqual(status, 409)
        removed = self.fake.control("DELETE", f"/__fake/organizations/{ORG}/memberships/user_a")
        self.assertEqual(removed["public_user_data"]["user_id"], "user_a")
        self.assertEqual(self.fake.control("GET", f"/__fake/organizations/{ORG}")["members_count"], 1)
        self.assertEqual(self.memberships()["total_count"], 1)
        self.assertEqual(self.fake.try_control("DELETE", f"/__fake/organizations/{ORG}/memberships/user_a")[0], 404)

    def test_roles_and_permissions_that_are_not_keys_are_refused(self):
        self.team("user_a")
        self.user("user_b")
        for body in ({"userId": "user_b", "role": "admin"},
                     {"userId": "user_b", "role": "org:billing", "permissions": ["billing:manage"]},
                     {"userId": "user_b", "role": "org:billing", "permissions": "org:sys_billing:manage"}):
            self.assertEqual(self.fake.try_control("POST", f"/__fake/organizations/{ORG}/memberships", body)[0], 400,
                             body)


class Invitations(FakeClerkCase):
    def test_pending_invitations_are_counted_and_a_revoked_one_is_not(self):
        self.team("user_a")
        first = self.fake.control("POST", f"/__fake/organizations/{ORG}/invitations",
                                  {"email": "new@example.com", "role": "org:member"})
        self.assertEqual({key: first[key] for key in ("object", "email_address", "role", "role_name",
                                                      "organization_id", "status", "public_metadata")},
                         {"object": "organization_invitation", "email_address": "new@example.com",
                          "role": "org:member", "role_name": "Member", "organization_id": ORG, "status": "pending",
                          "public_metadata": {}})
        self.assertTrue(first["id"].startswith("orginv_"))
        self.fake.control("POST", f"/__fake/organizations/{ORG}/invitations",
                          {"email": "boss@example.com", "role": "org:admin"})
        status, _ = self.fake.try_control("POST", f"/__fake/organizations/{ORG}/invitations",
                                          {"email": "new@example.com", "role": "org:member"})
        self.assertEqual(status, 409, "one pending invitation per address")
        self.assertEqual(self.fake.control("GET", f"/__fake/organizations/{ORG}")["pending_invitations_count"], 2)
        listed = self.fake.ok("GET", f"/v1/organizations/{ORG}/invitations", query={"status": "pending", "limit": 1})
        self.assertEqual((len(listed["data"]), listed["total_count"]), (1, 2))
        self.assertEqual(listed["data"][0]["email_address"], "boss@example.com", "newest first")

        revoked = self.fake.control("DELETE", f"/__fake/organizations/{ORG}/invitations/{first['id']}")
        self.assertEqual(revoked["status"], "revoked")
        self.assertEqual(self.fake.control("GET", f"/__fake/organizations/{ORG}")["pending_invitations_count"], 1)
        pending = self.fake.ok("GET", f"/v1/organizations/{ORG}/invitations", query={"status": "pending"})
        self.assertEqual([i["email_address"] for i in pending["data"]], ["boss@example.com"])
        self.assertEqual(pending["total_count"], 1)
        everything = self.fake.ok("GET", f"/v1/organizations/{ORG}/invitations")
        self.assertEqual(everything["total_count"], 2)
        self.assertEqual(self.fake.ok("GET", f"/v1/organizations/{ORG}/invitations",
                                      query={"status": "revoked"})["data"][0]["id"], first["id"])
        status, _ = self.fake.try_control("DELETE", f"/__fake/organizations/{ORG}/invitations/{first['id']}")
        self.assertEqual(status, 409, "only a pending invitation can be revoked")
        # Revoked, the address can be invited again.
        self.fake.control("POST", f"/__fake/organizations/{ORG}/invitations", {"email": "new@example.com"})


class SessionTokens(FakeClerkCase):
    def session(self, **body) -> tuple:
        status, answer = self.fake.try_control("POST", "/__fake/sessions", body)
        return status, answer

    def test_an_active_organization_is_clerks_v2_claim_without_system_permissions(self):
        self.team("user_a")
        self.user("user_admin")
        self.member("user_admin", "org:admin")
        for user, role in (("user_a", "member"), ("user_admin", "admin")):
            status, answer = self.session(userId=user, orgId=ORG)
            self.assertEqual(status, 200, answer)
            self.assertEqual(answer["orgId"], ORG)
            payload = claims(answer["token"])
            self.assertEqual((payload["sub"], payload["v"]), (user, 2))
            self.assertEqual(payload["o"], {"id": ORG, "rol": role, "slg": "acme-team"})
            self.assertNotIn("fea", payload)
            self.assertNotIn("org:sys_", json.dumps(payload))
            self.assertNotIn("sys_", json.dumps(payload))

    def test_custom_permissions_are_compacted_as_clerk_does(self):
        self.team()
        self.user("user_billing")
        self.member("user_billing", "org:billing",
                    permissions=["org:sys_billing:manage", "org:reports:read", "org:reports:manage",
                                 "org:invoices:read"])
        status, answer = self.session(userId="user_billing", orgId=ORG)
        self.assertEqual(status, 200, answer)
        payload = claims(answer["token"])
        self.assertEqual(payload["o"], {"id": ORG, "rol": "billing", "slg": "acme-team", "per": "read,manage",
                                        "fpm": "3,1"})
        self.assertEqual(payload["fea"], "o:reports,o:invoices")
        self.assertNotIn("sys_", json.dumps(payload))

    def test_only_a_members_organization_can_be_active(self):
        self.team("user_a")
        self.user("user_outsider")
        self.assertEqual(self.session(userId="user_outsider", orgId=ORG)[0], 404)
        self.assertEqual(self.session(userId="user_a", orgId="org_nope")[0], 404)
        self.assertEqual(self.session(userId="user_nobody", orgId=ORG)[0], 404)

    def test_without_an_organization_the_token_has_no_organization_claim(self):
        self.user("user_a")
        status, answer = self.session(userId="user_a", azp="http://localhost:3000")
        self.assertEqual(status, 200, answer)
        payload = claims(answer["token"])
        self.assertEqual((payload["sub"], payload["azp"]), ("user_a", "http://localhost:3000"))
        for claim in ("o", "fea", "org_id"):
            self.assertNotIn(claim, payload)
        self.assertNotIn("orgId", answer)


WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"fake clerk test secret 24b").decode()


class Receiver:
    """A webhook endpoint on a free port: each delivery whose Svix signature checks out is queued as
    (type, event); one with a bad signature fails the test that reads it."""

    def __init__(self):
        self.events: queue.Queue = queue.Queue()
        received = self.events

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                expected = svix_signature(WEBHOOK_SECRET, self.headers["svix-id"],
                                          self.headers["svix-timestamp"], body)
                signed = expected in self.headers.get("svix-signature", "").split()
                event = json.loads(body)
                received.put((event["type"], event) if signed else ("bad signature", event))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/clerk"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def take(self, count: int) -> list:
        """The next `count` deliveries (10 s at most for each)."""
        return [self.events.get(timeout=10) for _ in range(count)]


class Webhooks(unittest.TestCase):
    """The Backend API's writes send Clerk's webhooks, Svix-signed; the control API's send none."""

    def setUp(self):
        self.receiver = Receiver()
        self.addCleanup(self.receiver.close)
        self.fake = Fake("--webhook-url", self.receiver.url, "--webhook-secret", WEBHOOK_SECRET)
        self.addCleanup(self.fake.close)

    def test_users_organizations_and_memberships_made_through_the_backend_api_are_announced(self):
        admin = self.fake.ok("POST", "/v1/users", {"email_address": ["ada@example.com"], "first_name": "Ada"})
        self.assertEqual(self.receiver.take(1)[0][0], "user.created")
        self.assertEqual(self.fake.api("POST", "/v1/users", {"email_address": ["ADA@example.com"]})[1]["errors"][0]
                         ["code"], "form_identifier_exists")
        org = self.fake.ok("POST", "/v1/organizations", {"name": "Acme Team", "created_by": admin["id"]})
        self.assertEqual((org["object"], org["slug"], org["created_by"]), ("organization", "acme-team", admin["id"]))
        got = dict(self.receiver.take(2))
        self.assertEqual(set(got), {"organization.created", "organizationMembership.created"})
        self.assertEqual(got["organization.created"]["data"]["id"], org["id"])
        created = got["organizationMembership.created"]
        self.assertEqual((created["object"], created["data"]["role"], created["data"]["organization"]["id"],
                          created["data"]["public_user_data"]["user_id"]),
                         ("event", "org:admin", org["id"], admin["id"]))
        self.assertIn("org:sys_billing:manage", created["data"]["permissions"])

        grace = self.fake.ok("POST", "/v1/users", {"email_address": ["grace@example.com"]})
        self.receiver.take(1)
        path = f"/v1/organizations/{org['id']}/memberships"
        membership = self.fake.ok("POST", path, {"user_id": grace["id"], "role": "org:member"})
        self.assertEqual((membership["role"], membership["permissions"]), ("org:member", MEMBER_PERMISSIONS))
        (kind, event), = self.receiver.take(1)
        self.assertEqual((kind, event["data"]["id"]), ("organizationMembership.created", membership["id"]))
        status, answer = self.fake.api("POST", path, {"user_id": grace["id"], "role": "org:member"})
        self.assertEqual((status, answer["errors"][0]["code"]), (422, "already_a_member_in_organization"))
        self.assertEqual(self.fake.ok("GET", path)["total_count"], 2)

        self.fake.ok("PATCH", f"{path}/{grace['id']}", {"role": "org:admin"})
        self.assertEqual(self.receiver.take(1)[0][0], "organizationMembership.updated")
        removed = self.fake.ok("DELETE", f"{path}/{grace['id']}")
        (kind, event), = self.receiver.take(1)
        self.assertEqual((kind, event["data"]["id"], removed["id"]),
                         ("organizationMembership.deleted", membership["id"], membership["id"]))
        self.assertEqual(self.fake.ok("GET", path)["total_count"], 1)
        self.assertEqual(self.fake.api("DELETE", f"{path}/{grace['id']}")[0], 404)
        # A refused write announces nothing; the control API announces nothing either.
        self.fake.control("POST", "/__fake/users", {"id": "user_quiet"})
        self.fake.control("POST", f"/__fake/organizations/{org['id']}/memberships", {"userId": "user_quiet"})
        self.assertRaises(queue.Empty, self.receiver.events.get, timeout=1.5)
        deliveries = self.fake.control("GET", "/__fake/deliveries")
        self.assertEqual([d["type"] for d in deliveries if d["ok"]].count("organizationMembership.created"), 2)
        self.assertEqual(len(deliveries), 7)
        self.assertTrue(all(d["ok"] and d["status"] == 200 and d["event"].startswith("msg_") for d in deliveries))


class Frontend(unittest.TestCase):
    """What the demo app's organization switcher asks: who am I, my organizations, a new one, an active one."""

    def setUp(self):
        self.receiver = Receiver()
        self.addCleanup(self.receiver.close)
        self.fake = Fake("--webhook-url", self.receiver.url, "--webhook-secret", WEBHOOK_SECRET)
        self.addCleanup(self.fake.close)
        self.fake.control("POST", "/__fake/users", {"id": "user_ada", "email": "ada@example.com",
                                                    "first_name": "Ada", "last_name": "Lovelace"})
        self.session = self.fake.control("POST", "/__fake/sessions",
                                         {"userId": "user_ada", "azp": "http://localhost:3000"})

    def call(self, method, path, body=None, token=None):
        headers = {"Content-Type": "application/json", "Origin": "http://localhost:3000",
                   "Authorization": f"Bearer {token or self.session['token']}"}
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.fake.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                self.assertEqual(reply.headers["Access-Control-Allow-Origin"], "http://localhost:3000")
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def test_the_page_may_call_it_from_its_origin(self):
        request = urllib.request.Request(self.fake.base + "/v1/me", method="OPTIONS", headers={
            "Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            self.assertEqual(reply.status, 204)
            self.assertEqual(reply.headers["Access-Control-Allow-Origin"], "http://localhost:3000")
            self.assertIn("authorization", reply.headers["Access-Control-Allow-Headers"])

    def test_a_created_organization_is_listed_activated_and_its_token_carries_it(self):
        status, me = self.call("GET", "/v1/me")
        self.assertEqual((status, me["id"], me["first_name"]), (200, "user_ada", "Ada"))
        self.assertEqual(self.call("GET", "/v1/me/organization_memberships")[1], {"data": [], "total_count": 0})
        status, org = self.call("POST", "/v1/organizations", {"name": "Ada's Team"})
        self.assertEqual((status, org["name"], org["created_by"], org["members_count"]),
                         (200, "Ada's Team", "user_ada", 1))
        self.assertEqual({kind for kind, _ in self.receiver.take(2)},
                         {"organization.created", "organizationMembership.created"})
        listed = self.call("GET", "/v1/me/organization_memberships")[1]
        self.assertEqual(listed["total_count"], 1)
        self.assertEqual((listed["data"][0]["organization"]["id"], listed["data"][0]["role"]), (org["id"], "org:admin"))

        sid = self.session["sessionId"]
        status, session = self.call("POST", f"/v1/client/sessions/{sid}/touch", {"active_organization_id": org["id"]})
        self.assertEqual((status, session["id"], session["last_active_organization_id"]), (200, sid, org["id"]))
        payload = claims(session["last_active_token"]["jwt"])
        self.assertEqual((payload["sub"], payload["sid"], payload["azp"], payload["o"]["id"], payload["o"]["rol"]),
                         ("user_ada", sid, "http://localhost:3000", org["id"], "admin"))
        status, token = self.call("POST", f"/v1/client/sessions/{sid}/tokens")
        self.assertEqual(claims(token["jwt"])["o"]["id"], org["id"])
        # Back to the personal account: no organization claim.
        status, session = self.call("POST", f"/v1/client/sessions/{sid}/touch", {"active_organization_id": None})
        self.assertEqual(status, 200)
        self.assertNotIn("o", claims(session["last_active_token"]["jwt"]))

    def test_only_a_members_organization_can_be_activated_and_a_removed_member_loses_it(self):
        self.fake.control("POST", "/__fake/organizations", {"id": ORG, "name": "Other Team"})
        sid = self.session["sessionId"]
        status, answer = self.call("POST", f"/v1/client/sessions/{sid}/touch", {"active_organization_id": ORG})
        self.assertEqual((status, answer["errors"][0]["code"]), (404, "resource_not_found"))
        self.fake.control("POST", f"/__fake/organizations/{ORG}/memberships", {"userId": "user_ada"})
        status, session = self.call("POST", f"/v1/client/sessions/{sid}/touch", {"active_organization_id": ORG})
        self.assertEqual((status, claims(session["last_active_token"]["jwt"])["o"]["rol"]), (200, "member"))
        self.fake.control("DELETE", f"/__fake/organizations/{ORG}/memberships/user_ada")
        status, token = self.call("POST", f"/v1/client/sessions/{sid}/tokens")
        self.assertEqual(status, 200)
        self.assertNotIn("o", claims(token["jwt"]))

    def test_another_session_or_a_token_that_is_not_the_fakes_is_refused(self):
        other = self.fake.control("POST", "/__fake/sessions", {"userId": "user_ada"})
        status, _ = self.call("POST", f"/v1/client/sessions/{other['sessionId']}/touch", {})
        self.assertEqual(status, 404)
        head, body, _ = self.session["token"].split(".")
        status, answer = self.call("GET", "/v1/me", token=f"{head}.{body}.c2lnbmF0dXJl")
        self.assertEqual((status, answer["errors"][0]["code"]), (401, "authentication_invalid"))
        status, answer = self.call("GET", "/v1/me", token="sk_test_entitle_fake")
        self.assertEqual(status, 401)


if __name__ == "__main__":
    unittest.main()
