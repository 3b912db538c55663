//! A local fake of Clerk's Backend API (`scripts/fake_clerk.py`) for the tests of the code that calls Clerk:
//! point `CLERK_API_BASE` at [`FakeClerk::base_url`] and `CLERK_SECRET_KEY` at [`FakeClerk::secret_key`].
//!
//! Each [`FakeClerk`] is its own Python process on a free port, killed when dropped, so tests can run in
//! parallel without sharing state. Like Clerk, it answers 404 for a user or organization it does not know:
//! create them first with [`FakeClerk::create_user`] and [`FakeClerk::create_organization`] (members with
//! [`FakeClerk::add_member`]). The control API is called with a tiny blocking HTTP/1.1 client, as
//! in [`crate::stripe`] (same caveat: a few hundred microseconds on loopback, fine inside `#[tokio::test]`).
use crate::fake_process::FakeProcess;
use serde_json::{json, Value};

pub struct FakeClerk {
    /// `http://127.0.0.1:<port>`: the value for `CLERK_API_BASE`.
    pub base_url: String,
    /// A key the fake accepts (`sk_test_entitle_fake`): the value for `CLERK_SECRET_KEY`.
    pub secret_key: String,
    process: FakeProcess,
}

impl FakeClerk {
    /// Starts a fake that answers without added latency.
    pub fn start() -> Self {
        Self::start_with_latency(0)
    }

    /// Starts a fake that sleeps `ms` milliseconds inside every `/v1` request (outside its state lock), so
    /// concurrent requests really overlap and timeouts show up.
    pub fn start_with_latency(ms: u64) -> Self {
        let process = FakeProcess::start("fake Clerk", "fake_clerk.py", ms);
        Self {
            base_url: process.base_url(),
            secret_key: "sk_test_entitle_fake".to_owned(),
            process,
        }
    }

    /// Creates the user `id` with empty metadata and returns it in Clerk's shape.
    pub fn create_user(&self, id: &str) -> Value {
        self.create_user_with(json!({ "id": id }))
    }

    /// Creates a user from `{"id"?, "email"?, "first_name"?, "last_name"?, "public_metadata"?,
    /// "private_metadata"?, "unsafe_metadata"?}` and returns it in Clerk's shape.
    pub fn create_user_with(&self, user: Value) -> Value {
        self.control("POST", "/__fake/users", Some(&user))
    }

    /// The user as the fake stores it (metadata included), `None` if there is no such user.
    pub fn user(&self, id: &str) -> Option<Value> {
        let (status, body) = self
            .process
            .try_control("GET", &format!("/__fake/users/{id}"), None);
        match status {
            200 => Some(body),
            404 => None,
            _ => panic!("fake Clerk control GET /__fake/users/{id} answered {status}: {body}"),
        }
    }

    /// Creates the organization `id` (`org_…`) named `name` (its slug made from the name), with no members,
    /// and returns it in Clerk's shape, with `members_count` and `pending_invitations_count`.
    pub fn create_organization(&self, id: &str, name: &str) -> Value {
        self.create_organization_with(json!({ "id": id, "name": name }))
    }

    /// Creates an organization from `{"id"?, "name", "slug"?, "createdBy"?, "public_metadata"?,
    /// "private_metadata"?}` and returns it; as in Clerk, `createdBy` becomes its first member, `org:admin`.
    pub fn create_organization_with(&self, organization: Value) -> Value {
        self.control("POST", "/__fake/organizations", Some(&organization))
    }

    /// Makes the (existing) user a member of `org` with `role` (`org:admin`, `org:member`: the default roles'
    /// system permissions; any other role has none) and returns the membership in Clerk's shape.
    pub fn add_member(&self, org: &str, user: &str, role: &str) -> Value {
        let member = json!({ "userId": user, "role": role });
        self.control(
            "POST",
            &format!("/__fake/organizations/{org}/memberships"),
            Some(&member),
        )
    }

    /// Like [`FakeClerk::add_member`], with exactly `permissions` (a custom role's, e.g. `org:billing` with
    /// `["org:sys_billing:manage"]`) instead of the role's defaults.
    pub fn add_member_with_permissions(
        &self,
        org: &str,
        user: &str,
        role: &str,
        permissions: &[&str],
    ) -> Value {
        let member = json!({ "userId": user, "role": role, "permissions": permissions });
        self.control(
            "POST",
            &format!("/__fake/organizations/{org}/memberships"),
            Some(&member),
        )
    }

    /// Removes the user from `org` (panics if they are not a member).
    pub fn remove_member(&self, org: &str, user: &str) {
        self.control(
            "DELETE",
            &format!("/__fake/organizations/{org}/memberships/{user}"),
            None,
        );
    }

    /// A pending invitation of `email` to `org` with `role`, in Clerk's shape (its `id` is `orginv_…`).
    pub fn invite(&self, org: &str, email: &str, role: &str) -> Value {
        let invitation = json!({ "email": email, "role": role });
        self.control(
            "POST",
            &format!("/__fake/organizations/{org}/invitations"),
            Some(&invitation),
        )
    }

    /// Revokes a pending invitation: it is no longer pending, nor counted in `pending_invitations_count`.
    pub fn revoke_invitation(&self, org: &str, invitation_id: &str) {
        self.control(
            "DELETE",
            &format!("/__fake/organizations/{org}/invitations/{invitation_id}"),
            None,
        );
    }

    /// The organization as the fake stores it (metadata and counts included), `None` if there is none.
    pub fn organization(&self, id: &str) -> Option<Value> {
        let path = format!("/__fake/organizations/{id}");
        let (status, body) = self.process.try_control("GET", &path, None);
        match status {
            200 => Some(body),
            404 => None,
            _ => panic!("fake Clerk control GET {path} answered {status}: {body}"),
        }
    }

    /// A session token of the (existing) user, signed with the fake's key (its JWKS is
    /// `{base_url}/.well-known/jwks.json`, its `iss` the `base_url`). With `org`, of which the user must be a
    /// member, it carries Clerk's v2 organization claims: `"v": 2`, `"o": {"id", "rol", "slg"}` (and `per`,
    /// `fpm` and `fea` for custom permissions; never system ones).
    pub fn session_token(&self, user: &str, org: Option<&str>) -> String {
        let mut session = json!({ "userId": user });
        if let Some(org) = org {
            session["orgId"] = json!(org);
        }
        let answer = self.control("POST", "/__fake/sessions", Some(&session));
        answer["token"]
            .as_str()
            .unwrap_or_else(|| panic!("fake Clerk made a session without a token: {answer}"))
            .to_owned()
    }

    /// The next `count` `/v1` requests whose path starts with `path_prefix` answer `status` with a Clerk
    /// error body (`internal_clerk_error` for 5xx, `too_many_requests` for 429) and change nothing.
    pub fn fail_next(&self, count: u32, status: u16, path_prefix: &str) {
        let rule = json!({"count": count, "status": status, "path_prefix": path_prefix});
        self.control("POST", "/__fake/fail", Some(&rule));
    }

    /// Every `/v1` request received so far, in arrival order: `{"method", "path", "body"` (JSON, the raw text
    /// if it was not JSON, or null), `"status", "authorization", "contentType", "userAgent"}`.
    pub fn requests(&self) -> Vec<Value> {
        self.process.list("/__fake/requests")
    }

    /// Forgets every user, organization, injected failure and logged request.
    pub fn reset(&self) {
        self.control("POST", "/__fake/reset", None);
    }

    fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.process.control(method, path, body)
    }
}
