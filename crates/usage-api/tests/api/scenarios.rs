use crate::helpers::TestApp;
use entitle_domain::time::UnixTime;
use entitle_test_support::aws::TopicTap;
use serde_json::{json, Value};

fn at(text: &str) -> UnixTime {
    UnixTime::parse_rfc3339(text).unwrap()
}

#[tokio::test]
async fn a_consume_costs_one_read_and_one_write_on_the_wire() {
    let app = TestApp::spawn().await;
    app.consume_at("messages", 1, &app.key(), UnixTime::now())
        .await;
    app.trips.0.lock().unwrap().clear();
    app.consume_at("messages", 1, &app.key(), UnixTime::now())
        .await;
    let trips = app.trips.0.lock().unwrap().clone();
    assert_eq!(trips, ["BatchGetItem", "TransactWriteItems"]);
}

#[tokio::test]
async fn a_hold_expires_by_itself_and_a_commit_records_less_than_it_held() {
    let app = TestApp::spawn().await;
    let now = UnixTime::now();
    let (_, held) = app
        .call_at("POST", "/v1/usage", json!({"userId": app.user.as_str(), "feature": "messages", "amount": 30, "idempotencyKey": app.key(), "hold": {"seconds": 60}}), now)
        .await;
    assert_eq!(
        (held["allowed"].as_bool(), held["remaining"].as_i64()),
        (Some(true), Some(10))
    );
    let id = held["usageId"].as_str().unwrap().to_owned();
    let (_, refused) = app
        .call_at(
            "POST",
            "/v1/check",
            json!({"userId": app.user.as_str(), "feature": "messages", "amount": 11}),
            now,
        )
        .await;
    assert_eq!(refused["reason"], "limit_exceeded");
    let (status, done) = app
        .call_at(
            "POST",
            &format!("/v1/usage/{id}/commit"),
            json!({"amount": 12}),
            now,
        )
        .await;
    assert_eq!(
        (status, done["used"].as_i64(), done["remaining"].as_i64()),
        (200, Some(12), Some(28))
    );

    let (_, held) = app
        .call_at("POST", "/v1/usage", json!({"userId": app.user.as_str(), "feature": "messages", "amount": 28, "idempotencyKey": app.key(), "hold": {"seconds": 5}}), now)
        .await;
    let id = held["usageId"].as_str().unwrap().to_owned();
    let later = UnixTime::from_secs(now.secs() + 5);
    let spent = app.consume_at("messages", 28, &app.key(), later).await;
    assert_eq!(
        (spent["allowed"].as_bool(), spent["used"].as_i64()),
        (Some(true), Some(40)),
        "the expired hold no longer counts"
    );
    let (status, body) = app
        .call_at(
            "POST",
            &format!("/v1/usage/{id}/release"),
            Value::Null,
            later,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("hold_not_found")),
        "swept with the consume"
    );
}

#[tokio::test]
async fn a_new_day_starts_from_zero_and_the_billing_period_follows_the_subscription() {
    let app = TestApp::spawn().await;
    let today = at("2026-11-22T23:59:00Z");
    let tomorrow = at("2026-11-23T00:00:01Z");
    app.consume_at("messages", 40, &app.key(), today).await;
    assert_eq!(
        app.consume_at("messages", 1, &app.key(), today).await["allowed"],
        false
    );
    let next = app.consume_at("messages", 1, &app.key(), tomorrow).await;
    assert_eq!(
        (
            next["allowed"].as_bool(),
            next["used"].as_i64(),
            next["resetsAt"].as_str()
        ),
        (Some(true), Some(1), Some("2026-11-24T00:00:00Z"))
    );

    app.on_plan("pro", "2026-12-05T10:00:00Z").await;
    let tokens = app.consume_at("tokens", 600, &app.key(), today).await;
    assert_eq!(tokens["resetsAt"], "2026-12-05T10:00:00Z");
    let after = at("2026-12-05T10:00:01Z");
    app.on_plan("pro", "2027-01-05T10:00:00Z").await;
    let renewed = app.consume_at("tokens", 600, &app.key(), after).await;
    assert_eq!(
        (renewed["allowed"].as_bool(), renewed["used"].as_i64()),
        (Some(true), Some(600))
    );
}

#[tokio::test]
async fn a_plan_change_mid_period_applies_the_new_limit_and_keeps_the_usage() {
    let app = TestApp::spawn().await;
    let now = UnixTime::now();
    app.consume_at("messages", 40, &app.key(), now).await;
    assert_eq!(
        app.consume_at("messages", 1, &app.key(), now).await["reason"],
        "limit_exceeded"
    );
    app.on_plan("pro", "2099-01-01T00:00:00Z").await;
    let body = app.consume_at("messages", 1, &app.key(), now).await;
    assert_eq!(
        (
            body["allowed"].as_bool(),
            body["used"].as_i64(),
            body["limit"].as_i64()
        ),
        (Some(true), Some(41), Some(100))
    );
}

#[tokio::test]
async fn reaching_a_limit_is_announced_once_with_its_schema_shape() {
    let app = TestApp::spawn().await;
    let tap = TopicTap::subscribe(
        &app.config,
        &entitle_test_support::aws::env("BILLING_EVENTS_TOPIC_ARN"),
    )
    .await;
    let now = UnixTime::now();
    app.consume_at("messages", 39, &app.key(), now).await;
    app.consume_at("messages", 1, &app.key(), now).await;
    app.consume_at("messages", 1, &app.key(), now).await;
    assert!(
        app.buy_credits(15, &app.key()).await
            == entitle_domain::ports::usage::WriteOutcome::Applied
    );
    app.consume_at("credits", 6, &app.key(), now).await;
    let events: Vec<Value> = tap
        .messages()
        .await
        .iter()
        .filter_map(|m| serde_json::from_str(m.body()?).ok())
        .filter(|e: &Value| e["userId"] == app.user.as_str())
        .collect();
    let of = |t: &str| {
        events
            .iter()
            .filter(|e| e["type"] == t)
            .cloned()
            .collect::<Vec<_>>()
    };
    let reached = of("usage.limit_reached");
    assert_eq!(reached.len(), 1, "{events:?}");
    assert_eq!(
        (
            reached[0]["source"].as_str(),
            reached[0]["data"]["limit"].as_i64()
        ),
        (Some("entitle"), Some(40))
    );
    let low = of("credits.low");
    assert_eq!((low.len(), low[0]["data"]["used"].as_i64()), (1, Some(9)));
}

#[tokio::test]
async fn bad_input_is_a_clear_400_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let now = UnixTime::now();
    let user = app.user.as_str();
    for (body, code) in [
        (
            json!({"userId": user, "feature": "nope", "amount": 1, "idempotencyKey": "a"}),
            "unknown_feature",
        ),
        (
            json!({"userId": user, "feature": "messages", "amount": 0, "idempotencyKey": "a"}),
            "invalid_amount",
        ),
        (
            json!({"userId": user, "feature": "messages", "amount": 2.5, "idempotencyKey": "a"}),
            "invalid_amount",
        ),
        (
            json!({"userId": user, "feature": "messages", "amount": 1, "idempotencyKey": "a", "hold": {"seconds": 7200}}),
            "invalid_hold",
        ),
        (
            json!({"userId": user, "feature": "messages", "amount": 1}),
            "missing_idempotency_key",
        ),
        (
            json!({"userId": "x", "feature": "messages", "amount": 1, "idempotencyKey": "a"}),
            "invalid_user_id",
        ),
    ] {
        let (status, reply) = app.call_at("POST", "/v1/usage", body, now).await;
        assert_eq!((status, reply["error"]["code"].as_str()), (400, Some(code)));
    }
    let (_, usage) = app
        .call_at("GET", &format!("/v1/usage?userId={user}"), Value::Null, now)
        .await;
    assert!(usage["usage"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["used"] == 0));
}
