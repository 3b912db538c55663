//! A local fake of the Stripe API (`scripts/fake_stripe.py`) for the tests of the functions that call Stripe:
//! point `STRIPE_API_BASE` at [`FakeStripe::base_url`] and `STRIPE_SECRET_KEY` at [`FakeStripe::api_key`].
//!
//! Each [`FakeStripe`] is its own Python process on a free port, killed when dropped, so tests can run in
//! parallel without sharing state. The fake's control API (seeding, injected failures, the request log) is
//! called here with a tiny blocking HTTP/1.1 client over `std::net::TcpStream`. Those calls are a few
//! hundred microseconds on loopback, so calling them from inside `#[tokio::test]` is fine: they block the
//! test's runtime thread only that long. Do not call them while the code under test must make progress on
//! the same current-thread runtime at the same moment (e.g. from inside a spawned task awaiting the fake).
use crate::fake_process::FakeProcess;
use serde_json::Value;

pub struct FakeStripe {
    /// `http://127.0.0.1:<port>`: the value for `STRIPE_API_BASE`.
    pub base_url: String,
    /// A key the fake accepts (`sk_test_entitle_fake`): the value for `STRIPE_SECRET_KEY`.
    pub api_key: String,
    process: FakeProcess,
}

impl FakeStripe {
    /// Starts a fake that answers without added latency.
    pub fn start() -> Self {
        Self::start_with_latency(0)
    }

    /// Starts a fake that sleeps `ms` milliseconds inside every `/v1` request (outside its state lock), so
    /// concurrent requests really overlap: races, in-progress idempotency keys (409) and timeouts show up.
    pub fn start_with_latency(ms: u64) -> Self {
        let process = FakeProcess::start("fake Stripe", "fake_stripe.py", ms);
        Self {
            base_url: process.base_url(),
            api_key: "sk_test_entitle_fake".to_owned(),
            process,
        }
    }

    /// Every `/v1` request received so far, in arrival order: `{"method", "path", "query", "params"` (the
    /// form decoded into nested JSON), `"idempotencyKey", "status", "replayed"}`.
    pub fn requests(&self) -> Vec<Value> {
        self.process.list("/__fake/requests")
    }

    /// Every customer ever created, in creation order, with its metadata (deleted ones carry `"deleted": true`).
    pub fn customers(&self) -> Vec<Value> {
        self.process.list("/__fake/customers")
    }

    /// Every accepted `billing.meter_event`, in arrival order (`{"event_name", "identifier", "payload":
    /// {"stripe_customer_id", "value"}, "timestamp"}`).
    pub fn meter_events(&self) -> Vec<Value> {
        self.process.list("/__fake/meter_events")
    }

    /// The next `count` requests whose method is `method` (empty: any) and whose path starts with
    /// `path_prefix` answer `status` with a Stripe error body (`api_error` for 5xx, `rate_limit` for 429,
    /// `card_error` for 402) and change nothing. Like Stripe, 429 and 5xx answers are not stored under the
    /// request's idempotency key, so a retry with the same key runs for real.
    pub fn fail_next(&self, count: u32, status: u16, method: &str, path_prefix: &str) {
        let mut rule =
            serde_json::json!({"count": count, "status": status, "path_prefix": path_prefix});
        if !method.is_empty() {
            rule["method"] = method.into();
        }
        self.control("POST", "/__fake/fail", Some(&rule));
    }

    /// Adds a price: `{"id", "lookup_key", "unit_amount", "currency", "recurring": {"interval"} | null,
    /// "product"}`; missing fields get defaults (`recurring` absent = monthly). A price seeded with a
    /// `lookup_key` takes that key over from any older price, as Stripe's `transfer_lookup_key` does.
    pub fn seed_price(&self, price: Value) {
        self.control("POST", "/__fake/prices", Some(&price));
    }

    /// Adds a subscription and returns it in Stripe's shape: `{"customer", "price"` (a seeded price id),
    /// `"quantity", "status", "metadata", "cancel_at_period_end", "current_period_end"}`.
    pub fn seed_subscription(&self, sub: Value) -> Value {
        self.control("POST", "/__fake/subscriptions", Some(&sub))
    }

    /// A control call of the stand-in (`/__fake/…`), e.g. `POST /__fake/portal/default`.
    pub fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.process.control(method, path, body)
    }
}
