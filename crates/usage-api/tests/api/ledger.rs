//! `GET /v1/credits/ledger` against the local AWS: every movement of the credits balance — packs bought (the
//! processor's write), spends, a hold's commit, a refund — once each whatever the replays, newest first,
//! each with the balance after it; the counter and its movements read in one query.
use crate::helpers::{call, TestApp};
use entitle_domain::ports::usage::WriteOutcome;
use entitle_domain::time::UnixTime;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

async fn ledger(app: &TestApp, query: &str) -> (u16, Value) {
    let path = format!("/v1/credits/ledger?subject={}{query}", app.user.as_str());
    app.call_at("GET", &path, Value::Null, UnixTime::now())
        .await
}

fn column<'a>(body: &'a Value, name: &str) -> Vec<&'a Value> {
    body["movements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m[name])
        .collect()
}

#[tokio::test]
async fn every_movement_is_listed_once_newest_first_with_the_balance_after_it() {
    let app = TestApp::spawn().await;
    let first = app.key();
    assert_eq!(app.buy_credits(100, &first).await, WriteOutcome::Applied);
    // The processor's replay of the same checkout adds nothing and records nothing.
    assert_eq!(app.buy_credits(100, &first).await, WriteOutcome::Conflict);
    let spend = app.key();
    for _ in 0..2 {
        app.consume_at("credits", 30, &spend, UnixTime::now()).await;
    }
    let (_, held) = app
        .call_at("POST", "/v1/usage", json!({"userId": app.user.as_str(), "feature": "credits", "amount": 20, "idempotencyKey": app.key(), "hold": {"seconds": 60}}), UnixTime::now())
        .await;
    let id = held["usageId"].as_str().unwrap().to_owned();
    let commit = format!("/v1/usage/{id}/commit");
    for _ in 0..2 {
        let (status, body) = app
            .call_at("POST", &commit, json!({"amount": 15}), UnixTime::now())
            .await;
        assert_eq!(status, 200, "{body}");
    }
    // A hold released is no movement: it never left the balance.
    let (_, other) = app
        .call_at("POST", "/v1/usage", json!({"userId": app.user.as_str(), "feature": "credits", "amount": 7, "idempotencyKey": app.key(), "hold": {"seconds": 60}}), UnixTime::now())
        .await;
    let release = format!("/v1/usage/{}/release", other["usageId"].as_str().unwrap());
    assert_eq!(
        app.call_at("POST", &release, Value::Null, UnixTime::now())
            .await
            .0,
        200
    );
    app.consume_at("credits", -5, &app.key(), UnixTime::now())
        .await;
    assert_eq!(app.buy_credits(50, &app.key()).await, WriteOutcome::Applied);

    app.trips.0.lock().unwrap().clear();
    let (status, body) = ledger(&app, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.trips.0.lock().unwrap().clone(), ["Query"], "one query");
    assert_eq!(
        (&body["balance"], &body["held"], &body["available"]),
        (&json!(110), &json!(0), &json!(110))
    );
    assert_eq!(
        column(&body, "credits"),
        [&json!(50), &json!(5), &json!(-15), &json!(-30), &json!(100)]
    );
    assert_eq!(
        column(&body, "kind"),
        [
            &json!("purchase"),
            &json!("refund"),
            &json!("commit"),
            &json!("spend"),
            &json!("purchase")
        ]
    );
    assert_eq!(
        column(&body, "balanceAfter"),
        [&json!(110), &json!(60), &json!(55), &json!(70), &json!(100)]
    );
    assert_eq!(body["movements"][4]["source"], format!("checkout#{first}"));
    assert_eq!(body["truncated"], false);

    // A page of the newest two, the rest said to exist.
    let (_, page) = ledger(&app, "&limit=2").await;
    assert_eq!(column(&page, "balanceAfter"), [&json!(110), &json!(60)]);
    assert_eq!(page["truncated"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_spends_each_leave_one_movement_and_the_balances_add_up() {
    let app = TestApp::spawn().await;
    app.buy_credits(40, &app.key()).await;
    let now = UnixTime::now();
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let deps = Arc::clone(&app.deps);
            let body = json!({"userId": app.user.as_str(), "feature": "credits", "amount": 5,
                "idempotencyKey": app.key()});
            tokio::spawn(async move { call(&deps, "POST", "/v1/usage", body, now).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
        answers.push(body);
    }
    let allowed = answers.iter().filter(|a| a["allowed"] == true).count() as i64;
    assert_eq!(allowed, 8, "40 credits, 5 each");
    let (_, body) = ledger(&app, "").await;
    assert_eq!(body["balance"], 40 - 5 * allowed);
    let movements = body["movements"].as_array().unwrap();
    assert_eq!(
        movements.len() as i64,
        allowed + 1,
        "every allowed spend, and the purchase"
    );
    // Whatever order the racing spends applied in, the balances after them are each step down once.
    let after: BTreeSet<i64> = movements
        .iter()
        .map(|m| m["balanceAfter"].as_i64().unwrap())
        .collect();
    assert_eq!(after, (0..=8).map(|i| i * 5).collect());
}

#[tokio::test]
async fn a_bad_ledger_request_is_refused() {
    let app = TestApp::spawn().await;
    for (query, code) in [
        ("&limit=0", "invalid_limit"),
        ("&limit=1001", "invalid_limit"),
        ("&limit=x", "invalid_limit"),
    ] {
        let (status, body) = ledger(&app, query).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some(code)),
            "{query}: {body}"
        );
    }
    let (status, body) = app
        .call_at("GET", "/v1/credits/ledger", Value::Null, UnixTime::now())
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = app
        .call_at(
            "POST",
            &format!("/v1/credits/ledger?subject={}", app.user.as_str()),
            json!({}),
            UnixTime::now(),
        )
        .await;
    assert_eq!(status, 405);
    // No movement yet: the balance is zero and the list empty.
    let (status, body) = ledger(&app, "").await;
    assert_eq!(
        (status, &body["balance"], &body["movements"]),
        (200, &json!(0), &json!([]))
    );
}
