//! The handler with fakes at its ports (the usage store, the topic): contract, bad input, replays, holds
//! with the clock injected, periods, plan changes, announcements.
use crate::usage_api::auth::ApiKeys;
use crate::usage_api::deps::Deps;
use crate::usage_api::router::handle_at;
use entitle_domain::entitlements::{Entitlements, Status};
use entitle_domain::event::EventType;
use entitle_domain::fakes::InMemoryUsage;
use entitle_domain::fakes::RecordingPublisher;
use entitle_domain::ids::SubjectId;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::time::UnixTime;
use lambda_http::{Body, Request};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub const CATALOG: &str = r#"
[limits]
messages = { kind = "metered", resets = "day" }
tokens = { kind = "metered", resets = "billing_period" }
agents = { kind = "allocated" }
credits = { kind = "credits", low_threshold = 10 }

[[plans]]
id = "free"
name = "Free"
default = true
features = ["chat"]
[plans.limits]
messages = 3
agents = 1

[[plans]]
id = "pro"
name = "Pro"
features = ["chat", "sso"]
[plans.limits]
messages = 5
tokens = 100
agents = 3
[[plans.prices]]
lookup_key = "pro_monthly"
interval = "month"

[[plans]]
id = "scale"
name = "Scale"
features = ["chat"]
[plans.limits]
messages = 5
tokens = 100
agents = 3
[[plans.prices]]
lookup_key = "scale_monthly"
interval = "month"
[plans.overage]
tokens = { unit_amount = 1, per = 100, currency = "usd" }
"#;

const KEY: &str = "sk_usage_test";
const NOW: UnixTime = UnixTime::from_secs(1_795_341_600); // 2026-11-22T10:00:00Z
const USER: &str = "user_2abcUsageTest";

struct App {
    deps: Deps,
    store: Arc<InMemoryUsage>,
    publisher: Arc<RecordingPublisher>,
}

fn app() -> App {
    let store = Arc::new(InMemoryUsage::default());
    let publisher = Arc::new(RecordingPublisher::default());
    let deps = Deps {
        keys: ApiKeys::new(&SecretString::from(format!("old_key, {KEY}"))).into(),
        catalog: PlanCatalog::parse(CATALOG).unwrap(),
        store: store.clone(),
        history: Arc::new(entitle_domain::fakes::InMemoryEntitlementStore::default()),
        publisher: publisher.clone(),
    };
    App {
        deps,
        store,
        publisher,
    }
}

fn user() -> SubjectId {
    SubjectId::parse(USER).unwrap()
}

fn request(method: &str, path: &str, body: &str, key: Option<&str>) -> Request {
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://usage.test{path}"));
    if let Some(key) = key {
        builder = builder.header("authorization", format!("Bearer {key}"));
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

impl App {
    async fn call_at(&self, method: &str, path: &str, body: Value, now: UnixTime) -> (u16, Value) {
        let text = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let response = handle_at(&self.deps, &request(method, path, &text, Some(KEY)), now).await;
        let status = response.status().as_u16();
        let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
        entitle_test_support::http::record_usage_response(method, path, status, &body);
        entitle_test_support::http::record_request(method, path, &text, status);
        (status, body)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call_at("POST", path, body, NOW).await
    }

    async fn consume(&self, feature: &str, amount: i64, key: &str) -> Value {
        let (status, body) = self
            .post(
                "/v1/usage",
                json!({"userId": USER, "feature": feature, "amount": amount, "idempotencyKey": key}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    fn on_plan(&self, plan: &str, credits: i64) {
        let catalog = &self.deps.catalog;
        let mut e = Entitlements::on_plan(user(), catalog.plan(plan).unwrap(), Status::Active);
        e.credits = credits;
        e.period_end = Some("2026-12-05T10:00:00Z".into());
        self.store.put_entitlements(e);
    }

    async fn give_credits(&self, n: i64) {
        let key = entitle_domain::ports::usage::CounterKey {
            user: user(),
            name: "credits".into(),
            expires_at: None,
        };
        use entitle_domain::ports::usage::UsageStore;
        self.store
            .write(&key, &entitle_domain::usage::decision::add_credits(n), None)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_metered_limit_is_consumed_until_it_refuses_and_a_refusal_records_nothing() {
    let app = app();
    for i in 1..=3 {
        let body = app.consume("messages", 1, &format!("k{i}")).await;
        assert_eq!(body["allowed"], true);
        assert_eq!(
            (body["used"].as_i64(), body["remaining"].as_i64()),
            (Some(i), Some(3 - i))
        );
        assert_eq!(body["kind"], "metered");
        assert_eq!(body["limit"], 3);
        assert_eq!(body["resetsAt"], "2026-11-23T00:00:00Z");
    }
    let refused = app.consume("messages", 1, "k4").await;
    assert_eq!(
        (refused["allowed"].as_bool(), refused["reason"].as_str()),
        (Some(false), Some("limit_exceeded"))
    );
    assert_eq!(app.store.counter(&user(), "messages#d2026-11-22").value, 3);
    assert_eq!(app.store.records().len(), 3, "the refusal left no record");
}

#[tokio::test]
async fn a_consume_costs_one_read_and_one_write() {
    let app = app();
    app.consume("messages", 1, "once").await;
    assert_eq!(app.store.reads.load(Ordering::SeqCst), 1);
    assert_eq!(app.store.writes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_replay_answers_the_first_answer_and_another_body_under_the_key_conflicts() {
    let app = app();
    let first = app.consume("messages", 2, "same").await;
    let again = app.consume("messages", 2, "same").await;
    assert_eq!(first, again);
    assert_eq!(app.store.counter(&user(), "messages#d2026-11-22").value, 2);
    let (status, body) = app
        .post(
            "/v1/usage",
            json!({"userId": USER, "feature": "messages", "amount": 1, "idempotencyKey": "same"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("idempotency_conflict"))
    );
}

#[tokio::test]
async fn check_answers_without_recording() {
    let app = app();
    let (status, body) = app
        .post("/v1/check", json!({"userId": USER, "feature": "messages"}))
        .await;
    assert_eq!(
        (
            status,
            body["allowed"].as_bool(),
            body["remaining"].as_i64()
        ),
        (200, Some(true), Some(3))
    );
    let (_, body) = app
        .post(
            "/v1/check",
            json!({"userId": USER, "feature": "messages", "amount": 4}),
        )
        .await;
    assert_eq!(body["reason"], "limit_exceeded");
    let (_, body) = app
        .post("/v1/check", json!({"userId": USER, "feature": "sso"}))
        .await;
    assert_eq!(
        (
            body["kind"].as_str(),
            body["allowed"].as_bool(),
            body["reason"].as_str()
        ),
        (Some("boolean"), Some(false), Some("not_in_plan"))
    );
    let (_, body) = app
        .post("/v1/check", json!({"userId": USER, "feature": "tokens"}))
        .await;
    assert_eq!(
        body["reason"], "not_in_plan",
        "the free plan does not mention tokens"
    );
    assert_eq!(app.store.writes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_hold_counts_until_committed_for_less_and_an_expired_hold_stops_counting() {
    let app = app();
    app.on_plan("pro", 0);
    let (_, held) = app
        .post("/v1/usage", json!({"userId": USER, "feature": "messages", "amount": 4, "idempotencyKey": "h1", "hold": {"seconds": 60}}))
        .await;
    assert_eq!(
        (held["allowed"].as_bool(), held["remaining"].as_i64()),
        (Some(true), Some(1))
    );
    let id = held["usageId"].as_str().unwrap().to_owned();
    let (status, over) = app
        .post(&format!("/v1/usage/{id}/commit"), json!({"amount": 5}))
        .await;
    assert_eq!(
        (status, over["error"]["code"].as_str()),
        (400, Some("amount_over_hold"))
    );
    let (status, done) = app
        .post(&format!("/v1/usage/{id}/commit"), json!({"amount": 1}))
        .await;
    assert_eq!(
        (status, done["used"].as_i64(), done["remaining"].as_i64()),
        (200, Some(1), Some(4))
    );
    let (status, replay) = app
        .post(&format!("/v1/usage/{id}/commit"), json!({"amount": 1}))
        .await;
    assert_eq!(
        (status, &replay),
        (200, &done),
        "a retried commit answers the same"
    );
    let (status, other) = app
        .post(&format!("/v1/usage/{id}/release"), Value::Null)
        .await;
    assert_eq!(
        (status, other["error"]["code"].as_str()),
        (409, Some("hold_settled"))
    );

    // A second hold expires: it stops counting at its expiry, and settling it is refused.
    let (_, held) = app
        .post("/v1/usage", json!({"userId": USER, "feature": "messages", "amount": 4, "idempotencyKey": "h2", "hold": {"seconds": 30}}))
        .await;
    let id = held["usageId"].as_str().unwrap().to_owned();
    let later = UnixTime::from_secs(NOW.secs() + 30);
    let (_, check) = app
        .call_at(
            "POST",
            "/v1/check",
            json!({"userId": USER, "feature": "messages", "amount": 4}),
            later,
        )
        .await;
    assert_eq!(check["allowed"], true, "{check}");
    let (status, body) = app
        .call_at(
            "POST",
            &format!("/v1/usage/{id}/commit"),
            json!({"amount": 1}),
            later,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("hold_expired"))
    );
}

#[tokio::test]
async fn a_new_day_starts_from_zero() {
    let app = app();
    for i in 0..3 {
        app.consume("messages", 1, &format!("d{i}")).await;
    }
    let tomorrow = UnixTime::from_secs(NOW.secs() + 86_400);
    let (_, body) = app
        .call_at(
            "POST",
            "/v1/check",
            json!({"userId": USER, "feature": "messages"}),
            tomorrow,
        )
        .await;
    assert_eq!(
        (
            body["allowed"].as_bool(),
            body["used"].as_i64(),
            body["resetsAt"].as_str()
        ),
        (Some(true), Some(0), Some("2026-11-24T00:00:00Z"))
    );
}

#[tokio::test]
async fn a_plan_change_applies_its_limits_at_once_and_usage_carries_over() {
    let app = app();
    for i in 0..3 {
        app.consume("messages", 1, &format!("p{i}")).await;
    }
    assert_eq!(app.consume("messages", 1, "p3").await["allowed"], false);
    app.on_plan("pro", 0);
    let body = app.consume("messages", 1, "p4").await;
    assert_eq!(
        (
            body["allowed"].as_bool(),
            body["used"].as_i64(),
            body["plan"].as_str()
        ),
        (Some(true), Some(4), Some("pro"))
    );
    // Allocated: over the limit after a downgrade keeps what it has, cannot add.
    app.consume("agents", 3, "a1").await;
    app.store
        .put_entitlements(Entitlements::free(user(), &app.deps.catalog));
    let body = app.consume("agents", 1, "a2").await;
    assert_eq!(
        (body["allowed"].as_bool(), body["used"].as_i64()),
        (Some(false), Some(3))
    );
    let body = app.consume("agents", -1, "a3").await;
    assert_eq!(
        (body["allowed"].as_bool(), body["used"].as_i64()),
        (Some(true), Some(2))
    );
}

#[tokio::test]
async fn credits_are_spent_refunded_and_announced_low_once_below_the_threshold() {
    let app = app();
    app.give_credits(12).await;
    let body = app.consume("credits", 5, "c1").await;
    assert_eq!(
        (
            body["allowed"].as_bool(),
            body["remaining"].as_i64(),
            body["limit"].clone()
        ),
        (Some(true), Some(7), Value::Null)
    );
    let body = app.consume("credits", 8, "c2").await;
    assert_eq!(body["reason"], "insufficient_credits");
    app.consume("credits", 1, "c3").await;
    let low: Vec<_> = app
        .publisher
        .published
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.event_type == EventType::CreditsLow)
        .cloned()
        .collect();
    assert_eq!(
        low.len(),
        1,
        "credits.low once, when the balance crossed 10"
    );
    let body = app.consume("credits", -4, "c4").await;
    assert_eq!(body["remaining"], 10);
    let ledger: i64 = app.store.records().iter().map(|r| r.credits).sum();
    assert_eq!(ledger, -5 - 1 + 4, "each credits change has a ledger row");
}

#[tokio::test]
async fn usage_limit_reached_is_announced_once_per_period() {
    let app = app();
    for i in 0..5 {
        app.consume("messages", 1, &format!("r{i}")).await;
    }
    let reached: Vec<_> = app
        .publisher
        .published
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.event_type == EventType::UsageLimitReached)
        .cloned()
        .collect();
    assert_eq!(reached.len(), 1);
    assert_eq!(reached[0].user_id.as_ref(), Some(&user()));
}

#[tokio::test]
async fn get_usage_and_entitlements_show_every_limit_and_the_live_credits_balance() {
    let app = app();
    app.on_plan("pro", 999);
    app.give_credits(40).await;
    app.consume("messages", 2, "g1").await;
    let (status, body) = app
        .call_at("GET", &format!("/v1/usage?userId={USER}"), Value::Null, NOW)
        .await;
    assert_eq!(status, 200);
    let usage = body["usage"].as_array().unwrap();
    assert_eq!(usage.len(), 4);
    let messages = usage.iter().find(|u| u["feature"] == "messages").unwrap();
    assert_eq!(
        (messages["used"].as_i64(), messages["limit"].as_i64()),
        (Some(2), Some(5))
    );
    let tokens = usage.iter().find(|u| u["feature"] == "tokens").unwrap();
    assert_eq!(
        tokens["resetsAt"], "2026-12-05T10:00:00Z",
        "the subscription's period"
    );
    let (status, e) = app
        .call_at(
            "GET",
            &format!("/v1/entitlements?userId={USER}"),
            Value::Null,
            NOW,
        )
        .await;
    assert_eq!(
        (status, e["plan"].as_str(), e["credits"].as_i64()),
        (200, Some("pro"), Some(40))
    );
}

#[tokio::test]
async fn every_bad_input_is_a_clear_400() {
    let app = app();
    let base = json!({"userId": USER, "feature": "messages", "amount": 1, "idempotencyKey": "b"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (body, code) in [
        (with("feature", json!("teleport")), "unknown_feature"),
        (with("amount", json!(1.5)), "invalid_amount"),
        (with("amount", json!(0)), "invalid_amount"),
        (with("amount", json!("1")), "invalid_amount"),
        (with("amount", json!(-1)), "invalid_amount"),
        (with("hold", json!({"seconds": 3601})), "invalid_hold"),
        (with("hold", json!({"seconds": 0})), "invalid_hold"),
        (with("userId", json!("bob")), "invalid_user_id"),
        (with("feature", json!("sso")), "not_metered"),
        (
            json!({"userId": USER, "feature": "messages", "amount": 1}),
            "missing_idempotency_key",
        ),
        (
            json!({"userId": USER, "feature": "agents", "amount": -2, "idempotencyKey": "b"}),
            "invalid_amount",
        ),
    ] {
        let (status, reply) = app.post("/v1/usage", body.clone()).await;
        assert_eq!(
            (status, reply["error"]["code"].as_str()),
            (400, Some(code)),
            "{body}"
        );
    }
    let big = format!(
        "{{\"userId\":\"{USER}\",\"pad\":\"{}\"}}",
        "x".repeat(17 * 1024)
    );
    for text in ["{not json", "[1]", big.as_str()] {
        let response = handle_at(
            &app.deps,
            &request("POST", "/v1/usage", text, Some(KEY)),
            NOW,
        )
        .await;
        assert_eq!(response.status().as_u16(), 400, "{text:.40}");
    }
    let (status, reply) = app
        .call_at("GET", "/v1/usage?userId=nobody", Value::Null, NOW)
        .await;
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (400, Some("invalid_user_id"))
    );
    let (status, _) = app
        .post("/v1/usage/u_garbage/commit", json!({"amount": 1}))
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        app.store.writes.load(Ordering::SeqCst),
        0,
        "bad input changes nothing"
    );
}

#[tokio::test]
async fn a_missing_or_wrong_key_is_401_and_both_keys_of_a_rotation_work() {
    let app = app();
    let body = json!({"userId": USER, "feature": "messages"}).to_string();
    for key in [None, Some("wrong"), Some(""), Some("sk_usage_tes")] {
        let response = handle_at(&app.deps, &request("POST", "/v1/check", &body, key), NOW).await;
        assert_eq!(response.status().as_u16(), 401, "{key:?}");
    }
    for key in ["old_key", KEY] {
        let response = handle_at(
            &app.deps,
            &request("POST", "/v1/check", &body, Some(key)),
            NOW,
        )
        .await;
        assert_eq!(response.status().as_u16(), 200);
    }
    assert!(
        !format!("{:?}", app.deps.keys).contains(KEY),
        "keys never print"
    );
}

#[tokio::test]
async fn a_store_outage_is_503_and_wrong_methods_and_routes_are_4xx() {
    let app = app();
    app.store.down.store(true, Ordering::SeqCst);
    let (status, body) = app
        .post("/v1/check", json!({"userId": USER, "feature": "messages"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("unavailable"))
    );
    let (status, _) = app.call_at("GET", "/v1/check", Value::Null, NOW).await;
    assert_eq!(status, 405);
    let (status, _) = app.post("/v1/nothing", Value::Null).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn overage_that_could_not_be_announced_answers_503_and_the_retry_announces_it_once() {
    let app = app();
    app.on_plan("scale", 0);
    app.consume("tokens", 100, "k-within").await;
    app.publisher.set_failing(true);
    let body =
        json!({"userId": USER, "feature": "tokens", "amount": 30, "idempotencyKey": "k-over"});
    let (status, answer) = app.post("/v1/usage", body.clone()).await;
    assert_eq!(status, 503, "{answer}");
    assert!(!app
        .publisher
        .events()
        .iter()
        .any(|e| e.event_type == EventType::UsageRecorded));
    app.publisher.set_failing(false);
    let (status, answer) = app.post("/v1/usage", body.clone()).await;
    assert_eq!(
        (status, answer["overage"].as_i64(), answer["used"].as_i64()),
        (200, Some(30), Some(130))
    );
    let (_, again) = app.post("/v1/usage", body).await;
    assert_eq!(again, answer, "a replay answers the same");
    let recorded: Vec<_> = app
        .publisher
        .events()
        .into_iter()
        .filter(|e| e.event_type == EventType::UsageRecorded)
        .collect();
    assert_eq!(recorded.len(), 1, "announced once, not again on the replay");
    match &recorded[0].data {
        entitle_domain::event::EventData::Recorded(r) => {
            assert_eq!((r.overage, r.feature.as_str()), (30, "tokens"));
            assert_eq!(Some(r.usage_id.as_str()), answer["usageId"].as_str());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_organization_is_a_subject_of_its_own_and_userid_is_the_older_name_of_subject() {
    let app = app();
    const ORG: &str = "org_2teamACME";
    let org = SubjectId::parse(ORG).unwrap();
    let (status, body) = app
        .post(
            "/v1/usage",
            json!({"subject": ORG, "feature": "messages", "amount": 2, "idempotencyKey": "team-1"}),
        )
        .await;
    assert_eq!((status, body["userId"].as_str()), (200, Some(ORG)));
    assert_eq!(app.store.counter(&org, "messages#d2026-11-22").value, 2);
    // The organization's pool is not any member's: the user's own counter is untouched.
    assert_eq!(app.store.counter(&user(), "messages#d2026-11-22").value, 0);
    // `userId` still works, and names the same subject.
    let (status, _) = app
        .post("/v1/check", json!({"userId": ORG, "feature": "messages"}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .call_at("GET", &format!("/v1/usage?subject={ORG}"), Value::Null, NOW)
        .await;
    assert_eq!((status, body["userId"].as_str()), (200, Some(ORG)));
    // Both names, disagreeing: refused, nothing recorded.
    let (status, body) = app
        .post(
            "/v1/usage",
            json!({"subject": ORG, "userId": USER, "feature": "messages", "amount": 1, "idempotencyKey": "team-2"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("conflicting_subject"))
    );
    assert_eq!(app.store.counter(&org, "messages#d2026-11-22").value, 2);
    assert_eq!(app.store.counter(&user(), "messages#d2026-11-22").value, 0);
}

#[tokio::test]
async fn seats_are_checked_before_an_invitation_and_never_consumed() {
    use entitle_domain::ports::usage::{CounterKey, UsageStore};
    const ORG: &str = "org_2teamACME";
    let catalog = CATALOG.replace(
        "agents = { kind = \"allocated\" }",
        "agents = { kind = \"allocated\" }\nseats = { kind = \"allocated\" }",
    )
    .replace("messages = 5\ntokens = 100\nagents = 3\n[[plans.prices]]\nlookup_key = \"pro_monthly\"", "messages = 5\ntokens = 100\nagents = 3\nseats = 5\n[[plans.prices]]\nlookup_key = \"pro_monthly\"");
    let mut app = app();
    app.deps.catalog = PlanCatalog::parse(&catalog).unwrap();
    let org = SubjectId::parse(ORG).unwrap();
    let plan = app.deps.catalog.plan("pro").unwrap().clone();
    app.store
        .put_entitlements(Entitlements::on_plan(org.clone(), &plan, Status::Active));
    // The processor counted four members.
    let key = CounterKey {
        user: org.clone(),
        name: "seats".into(),
        expires_at: None,
    };
    assert!(app.store.set_count(&key, 4, 0).await.unwrap());
    let (status, body) = app
        .post(
            "/v1/check",
            json!({"subject": ORG, "feature": "seats", "amount": 1}),
        )
        .await;
    assert_eq!(
        (
            status,
            body["allowed"].as_bool(),
            body["remaining"].as_i64()
        ),
        (200, Some(true), Some(1))
    );
    assert!(app.store.set_count(&key, 5, 1).await.unwrap());
    let (_, body) = app
        .post(
            "/v1/check",
            json!({"subject": ORG, "feature": "seats", "amount": 1}),
        )
        .await;
    assert_eq!(body["allowed"].as_bool(), Some(false));
    // Consuming a seat is refused and changes nothing.
    let (status, body) = app
        .post(
            "/v1/usage",
            json!({"subject": ORG, "feature": "seats", "amount": 1, "idempotencyKey": "seat-1"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("seats_are_counted"))
    );
    assert_eq!(app.store.counter(&org, "seats").value, 5);
}
