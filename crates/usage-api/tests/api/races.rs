use crate::helpers::{call, TestApp};
use entitle_domain::ports::usage::WriteOutcome;
use entitle_domain::time::UnixTime;
use serde_json::{json, Value};
use std::sync::Arc;

/// `n` concurrent consumes of `amount`, each under its own key (or all under `same_key`).
async fn race(app: &TestApp, feature: &str, n: usize, same_key: Option<&str>) -> Vec<Value> {
    let now = UnixTime::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let deps = Arc::clone(&app.deps);
            let body = json!({
                "userId": app.user.as_str(), "feature": feature, "amount": 1,
                "idempotencyKey": same_key.map_or_else(|| app.key(), str::to_owned),
            });
            tokio::spawn(async move { call(&deps, "POST", "/v1/usage", body, now).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
        answers.push(body);
    }
    answers
}

fn allowed(answers: &[Value]) -> usize {
    answers.iter().filter(|a| a["allowed"] == true).count()
}

async fn used(app: &TestApp, feature: &str) -> Value {
    let (_, body) = app
        .call_at(
            "GET",
            &format!("/v1/usage?userId={}", app.user),
            Value::Null,
            UnixTime::now(),
        )
        .await;
    body["usage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["feature"] == feature)
        .cloned()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_racing_consumes_of_a_metered_limit_of_40_allow_exactly_40() {
    let app = TestApp::spawn().await;
    let answers = race(&app, "messages", 100, None).await;
    assert_eq!(allowed(&answers), 40);
    assert!(answers
        .iter()
        .filter(|a| a["allowed"] == false)
        .all(|a| a["reason"] == "limit_exceeded"));
    assert_eq!(used(&app, "messages").await["used"], 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_racing_consumes_of_an_allocated_limit_of_40_allow_exactly_40() {
    let app = TestApp::spawn().await;
    let answers = race(&app, "agents", 100, None).await;
    assert_eq!(allowed(&answers), 40);
    assert_eq!(used(&app, "agents").await["used"], 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_racing_spends_of_40_credits_allow_exactly_40() {
    let app = TestApp::spawn().await;
    assert_eq!(app.buy_credits(40, &app.key()).await, WriteOutcome::Applied);
    let answers = race(&app, "credits", 100, None).await;
    assert_eq!(allowed(&answers), 40);
    let credits = used(&app, "credits").await;
    assert_eq!(
        (credits["remaining"].as_i64(), credits["used"].as_i64()),
        (Some(0), Some(40))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_racing_replays_of_one_key_count_once_and_all_get_the_first_answer() {
    let app = TestApp::spawn().await;
    let key = app.key();
    let answers = race(&app, "messages", 100, Some(&key)).await;
    assert!(
        answers.iter().all(|a| a == &answers[0]),
        "every replay answers the first answer"
    );
    assert_eq!(answers[0]["used"], 1);
    assert_eq!(used(&app, "messages").await["used"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_purchase_racing_fifty_spends_loses_neither() {
    let app = TestApp::spawn().await;
    assert_eq!(app.buy_credits(50, &app.key()).await, WriteOutcome::Applied);
    let session = app.key();
    let app = Arc::new(app);
    let buyer = {
        let app = Arc::clone(&app);
        let session = session.clone();
        tokio::spawn(async move { app.buy_credits(1000, &session).await })
    };
    let answers = race(&app, "credits", 50, None).await;
    assert_eq!(buyer.await.unwrap(), WriteOutcome::Applied);
    assert_eq!(
        allowed(&answers),
        50,
        "50 credits were there before the purchase"
    );
    // A replayed purchase adds nothing.
    assert_eq!(
        app.buy_credits(1000, &session).await,
        WriteOutcome::Conflict
    );
    assert_eq!(used(&app, "credits").await["remaining"], 1000 + 50 - 50);
}
