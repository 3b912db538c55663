//! A plan that bills overage: use beyond the included amount is allowed, marked as overage, and announced
//! as `usage.recorded` exactly once per usage (replays publish nothing new), on the real topic of the local
//! AWS.
use crate::helpers::TestApp;
use entitle_domain::time::UnixTime;
use entitle_test_support::aws::{self, TopicTap};
use serde_json::{json, Value};
use std::collections::HashSet;

async fn recorded_events(tap: &TopicTap, app: &TestApp) -> Vec<Value> {
    tap.messages()
        .await
        .iter()
        .filter_map(|m| serde_json::from_str::<Value>(m.body()?).ok())
        .filter(|e| e["type"] == "usage.recorded" && e["userId"] == app.user.as_str())
        .collect()
}

#[tokio::test]
async fn use_beyond_the_included_amount_is_allowed_billed_once_and_shown() {
    let app = TestApp::spawn().await;
    app.on_plan("scale", "2099-01-01T00:00:00Z").await;
    let tap = TopicTap::subscribe(&app.config, &aws::env("BILLING_EVENTS_TOPIC_ARN")).await;
    let now = UnixTime::now();
    let within = app.consume_at("tokens", 950, &app.key(), now).await;
    assert_eq!(
        (within["allowed"].as_bool(), within["overage"].as_i64()),
        (Some(true), Some(0))
    );
    assert!(
        within.get("usageId").is_none(),
        "nothing to bill, no usage id"
    );
    // Crossing the included 1,000: 50 of these 100 are overage.
    let crossing = app.consume_at("tokens", 100, &app.key(), now).await;
    assert_eq!(
        (
            crossing["allowed"].as_bool(),
            crossing["overage"].as_i64(),
            crossing["remaining"].as_i64()
        ),
        (Some(true), Some(50), Some(0))
    );
    // Ten more of 95, each retried with its idempotency key: the replay answers the same, bills nothing new.
    let mut usage_ids = HashSet::new();
    usage_ids.insert(crossing["usageId"].as_str().unwrap().to_owned());
    for _ in 0..10 {
        let key = app.key();
        let first = app.consume_at("tokens", 95, &key, now).await;
        let replay = app.consume_at("tokens", 95, &key, now).await;
        assert_eq!(first, replay);
        assert_eq!(
            (first["allowed"].as_bool(), first["overage"].as_i64()),
            (Some(true), Some(95))
        );
        usage_ids.insert(first["usageId"].as_str().unwrap().to_owned());
    }
    assert_eq!(usage_ids.len(), 11);
    let events = recorded_events(&tap, &app).await;
    let total: i64 = events
        .iter()
        .map(|e| e["data"]["overage"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 1_000, "{events:#?}");
    assert_eq!(
        events.len(),
        11,
        "one event per usage, none for the replays"
    );
    let announced: HashSet<String> = events
        .iter()
        .map(|e| e["data"]["usageId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(announced, usage_ids);
    assert!(events.iter().all(|e| e["source"] == "entitle"
        && e["data"]["feature"] == "tokens"
        && e["id"].as_str().unwrap().starts_with("usage-recorded-")));
    // The period's picture shows it.
    let (status, usage) = app
        .call_at(
            "GET",
            &format!("/v1/usage?userId={}", app.user),
            Value::Null,
            now,
        )
        .await;
    assert_eq!(status, 200, "{usage}");
    let tokens = usage["usage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["feature"] == "tokens")
        .unwrap_or_else(|| panic!("{usage}"));
    assert_eq!(
        (tokens["used"].as_i64(), tokens["overage"].as_i64()),
        (Some(2_000), Some(1_000))
    );
}

#[tokio::test]
async fn a_hold_beyond_the_included_amount_bills_what_its_commit_records() {
    let app = TestApp::spawn().await;
    app.on_plan("scale", "2099-01-01T00:00:00Z").await;
    let tap = TopicTap::subscribe(&app.config, &aws::env("BILLING_EVENTS_TOPIC_ARN")).await;
    let now = UnixTime::now();
    app.consume_at("tokens", 1_000, &app.key(), now).await;
    let (status, held) = app
        .call_at(
            "POST",
            "/v1/usage",
            json!({"userId": app.user.as_str(), "feature": "tokens", "amount": 200,
            "idempotencyKey": app.key(), "hold": {"seconds": 60}}),
            now,
        )
        .await;
    assert_eq!(
        (status, held["allowed"].as_bool(), held["overage"].as_i64()),
        (200, Some(true), Some(0)),
        "{held}"
    );
    let id = held["usageId"].as_str().unwrap().to_owned();
    let commit = |id: String| {
        let app = &app;
        async move {
            app.call_at(
                "POST",
                &format!("/v1/usage/{id}/commit"),
                json!({"amount": 150}),
                now,
            )
            .await
        }
    };
    let (status, done) = commit(id.clone()).await;
    assert_eq!(
        (status, done["overage"].as_i64()),
        (200, Some(150)),
        "{done}"
    );
    let (status, again) = commit(id.clone()).await;
    assert_eq!(
        (status, again),
        (200, done),
        "a repeated commit is a replay"
    );
    let events = recorded_events(&tap, &app).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(
        (
            events[0]["data"]["usageId"].as_str(),
            events[0]["data"]["overage"].as_i64()
        ),
        (Some(id.as_str()), Some(150))
    );
}

#[tokio::test]
async fn a_plan_without_overage_still_refuses_at_its_limit_and_publishes_nothing() {
    let app = TestApp::spawn().await;
    app.on_plan("pro", "2099-01-01T00:00:00Z").await;
    let tap = TopicTap::subscribe(&app.config, &aws::env("BILLING_EVENTS_TOPIC_ARN")).await;
    let now = UnixTime::now();
    app.consume_at("tokens", 1_000, &app.key(), now).await;
    let refused = app.consume_at("tokens", 1, &app.key(), now).await;
    assert_eq!(
        (refused["allowed"].as_bool(), refused["reason"].as_str()),
        (Some(false), Some("limit_exceeded"))
    );
    assert!(refused.get("overage").is_none(), "{refused}");
    assert!(recorded_events(&tap, &app).await.is_empty());
}

#[tokio::test]
async fn racing_writers_across_the_included_amount_bill_each_unit_once() {
    let app = TestApp::spawn().await;
    app.on_plan("scale", "2099-01-01T00:00:00Z").await;
    let tap = TopicTap::subscribe(&app.config, &aws::env("BILLING_EVENTS_TOPIC_ARN")).await;
    let now = UnixTime::now();
    // 24 concurrent consumes of 50 against 1,000 included: 200 units of overage, however they interleave.
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let deps = std::sync::Arc::clone(&app.deps);
            let body = json!({"userId": app.user.as_str(), "feature": "tokens", "amount": 50,
                "idempotencyKey": app.key()});
            tokio::spawn(async move {
                crate::helpers::call(&deps, "POST", "/v1/usage", body, now).await
            })
        })
        .collect();
    let mut billed = 0;
    for task in tasks {
        let (status, answer) = task.await.unwrap();
        assert_eq!(
            (status, answer["allowed"].as_bool()),
            (200, Some(true)),
            "{answer}"
        );
        billed += answer["overage"].as_i64().unwrap();
    }
    assert_eq!(billed, 200);
    let events = recorded_events(&tap, &app).await;
    let announced: i64 = events
        .iter()
        .map(|e| e["data"]["overage"].as_i64().unwrap())
        .sum();
    assert_eq!(announced, 200, "{events:#?}");
}
