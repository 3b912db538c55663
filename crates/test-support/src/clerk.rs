//! A local fake of Clerk's Backend API (`scripts/fake_clerk.py`) for the tests of the code that calls Clerk:
//! point `CLERK_API_BASE` at [`FakeClerk::base_url`] and `CLERK_SECRET_KEY` at [`FakeClerk::secret_key`].
//!
//! Each [`FakeClerk`] is its own Python process on a free port, killed when dropped, so tests can run in
//! parallel without sharing state. Like Clerk, it answers 404 for a user it does not know: create users
//! first with [`FakeClerk::create_user`]. The control API is called with a tiny blocking HTTP/1.1 client, as
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

    /// Forgets every user, injected failure and logged request.
    pub fn reset(&self) {
        self.control("POST", "/__fake/reset", None);
    }

    fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.process.control(method, path, body)
    }
}
