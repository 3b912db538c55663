//! What a paid add-on adds is what usage-api enforces: the base plan's limit plus each live add-on's ×
//! quantity, for consumes, holds, checks and the usage listing alike.
use crate::helpers::{call, TestApp};
use entitle_domain::time::UnixTime;
use serde_json::{json, Value};
use std::sync::Arc;

fn at(text: &str) -> UnixTime {
    UnixTime::parse_rfc3339(text).unwrap()
}

async fn race(app: &TestApp, feature: &str, n: usize, now: UnixTime) -> usize {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let deps = Arc::clone(&app.deps);
            let body = json!({
                "userId": app.user.as_str(), "feature": feature, "amount": 1,
                "idempotencyKey": app.key(),
            });
            tokio::spawn(async move { call(&deps, "POST", "/v1/usage", body, now).await })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
        if body["allowed"] == true {
            allowed += 1;
        } else {
            assert_eq!(body["reason"], "limit_exceeded", "{body}");
        }
    }
    allowed
}

async fn listed(app: &TestApp, feature: &str, now: UnixTime) -> Value {
    let (status, body) = app
        .call_at(
            "GET",
            &format!("/v1/usage?userId={}", app.user),
            Value::Null,
            now,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["usage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["feature"] == feature)
        .cloned()
        .unwrap()
}

async fn check(app: &TestApp, feature: &str, amount: i64, now: UnixTime) -> Value {
    let (status, body) = app
        .call_at(
            "POST",
            "/v1/check",
            json!({"userId": app.user.as_str(), "feature": feature, "amount": amount}),
            now,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_consumes_against_a_plan_and_two_packs_stop_at_exactly_the_combined_limit() {
    let app = TestApp::spawn().await;
    app.with_packs("pro", 2, None).await;
    let now = UnixTime::now();
    // Pro: 100 agents, 100 messages a day; each pack +5 agents, +10 messages.
    assert_eq!(race(&app, "agents", 130, now).await, 110);
    assert_eq!(race(&app, "messages", 150, now).await, 120);
    let agents = listed(&app, "agents", now).await;
    assert_eq!(
        (&agents["limit"], &agents["used"]),
        (&json!(110), &json!(110))
    );
    let messages = listed(&app, "messages", now).await;
    assert_eq!(
        (
            &messages["limit"],
            &messages["used"],
            &messages["remaining"]
        ),
        (&json!(120), &json!(120), &json!(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn packs_without_a_base_plan_add_to_the_free_plan_and_holds_count_against_the_sum() {
    let app = TestApp::spawn().await;
    app.with_packs("free", 1, None).await;
    let now = UnixTime::now();
    // Free: 40 agents; + 5 = 45. A hold of 44 leaves one.
    let (status, held) = app
        .call_at(
            "POST",
            "/v1/usage",
            json!({"userId": app.user.as_str(), "feature": "agents", "amount": 44,
                   "idempotencyKey": app.key(), "hold": {"seconds": 600}}),
            now,
        )
        .await;
    assert_eq!(
        (status, &held["allowed"], &held["limit"]),
        (200, &json!(true), &json!(45)),
        "{held}"
    );
    assert_eq!(race(&app, "agents", 10, now).await, 1);
    let usage_id = held["usageId"].as_str().unwrap();
    let (status, committed) = app
        .call_at(
            "POST",
            &format!("/v1/usage/{usage_id}/commit"),
            json!({"amount": 44}),
            now,
        )
        .await;
    assert_eq!(status, 200, "{committed}");
    assert_eq!(listed(&app, "agents", now).await["used"], 45);
}

#[tokio::test]
async fn a_pack_canceled_at_period_end_counts_until_then_and_stops_after() {
    let app = TestApp::spawn().await;
    let until = "2031-03-01T00:00:00Z";
    app.with_packs("free", 1, Some(until)).await;
    let before = at("2031-02-28T23:00:00Z");
    for _ in 0..45 {
        let answer = app.consume_at("agents", 1, &app.key(), before).await;
        assert_eq!(answer["allowed"], true, "{answer}");
    }
    assert_eq!(check(&app, "agents", 1, before).await["allowed"], false);
    assert_eq!(listed(&app, "agents", before).await["limit"], 45);

    let after = at("2031-03-01T00:00:01Z");
    let refused = app.consume_at("agents", 1, &app.key(), after).await;
    assert_eq!(
        (&refused["allowed"], &refused["limit"], &refused["reason"]),
        (&json!(false), &json!(40), &json!("limit_exceeded"))
    );
    let listing = listed(&app, "agents", after).await;
    assert_eq!(
        (&listing["limit"], &listing["used"]),
        (&json!(40), &json!(45))
    );
    // Freeing agents below the plan's own limit works as always.
    let (status, freed) = app
        .call_at(
            "POST",
            "/v1/usage",
            json!({"userId": app.user.as_str(), "feature": "agents", "amount": -6, "idempotencyKey": app.key()}),
            after,
        )
        .await;
    assert_eq!((status, &freed["allowed"]), (200, &json!(true)), "{freed}");
    assert_eq!(check(&app, "agents", 1, after).await["allowed"], true);
}

#[tokio::test]
async fn raising_a_packs_quantity_from_one_to_three_raises_the_limit_at_once() {
    let app = TestApp::spawn().await;
    app.with_packs("pro", 1, None).await;
    let now = UnixTime::now();
    let refused = app.consume_at("messages", 111, &app.key(), now).await;
    assert_eq!(
        (&refused["allowed"], &refused["limit"]),
        (&json!(false), &json!(110))
    );
    assert_eq!(
        app.consume_at("messages", 110, &app.key(), now).await["allowed"],
        true
    );
    assert_eq!(check(&app, "messages", 1, now).await["allowed"], false);

    app.with_packs("pro", 3, None).await;
    let more = app.consume_at("messages", 20, &app.key(), now).await;
    assert_eq!(
        (&more["allowed"], &more["limit"], &more["remaining"]),
        (&json!(true), &json!(130), &json!(0))
    );
    assert_eq!(listed(&app, "messages", now).await["limit"], 130);
}
