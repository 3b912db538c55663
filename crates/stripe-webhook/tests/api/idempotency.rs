use crate::helpers::{deliver, signed_event, TestApp, SECRET};
use entitle_test_support::aws;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_event_delivered_ten_times_concurrently_is_published_exactly_once() {
    let app = TestApp::spawn().await;
    let (id, body, signature) = signed_event("customer.subscription.updated", SECRET);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (deps, body, signature) = (app.deps.clone(), body.clone(), signature.clone());
            tokio::spawn(async move { deliver(&deps, &body, &signature).await })
        })
        .collect();
    let mut published = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            200 if reply.body == serde_json::json!({"received": true}) => published += 1,
            200 => assert_eq!(reply.body["duplicate"], true),
            409 => assert_eq!(reply.body["error"]["code"], "in_progress"),
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert_eq!(published, 1);
    assert_eq!(app.published(&id).await.len(), 1);

    // Stripe retries the ones that got a 409: each is acknowledged, none publishes again.
    let retry = app.deliver(&body, &signature).await;
    assert_eq!(
        (retry.status, &retry.body["duplicate"]),
        (200, &serde_json::json!(true))
    );
    assert!(app.published(&id).await.is_empty());
}

#[tokio::test]
async fn a_publish_failure_answers_503_releases_the_claim_and_the_retry_publishes_once() {
    let broken = TestApp::with(
        &[SECRET],
        "arn:aws:sns:us-east-1:123456789012:entitle-missing-topic",
    )
    .await;
    let (id, body, signature) = signed_event("invoice.payment_failed", SECRET);
    let reply = broken.deliver(&body, &signature).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.body["error"]["code"], "unavailable");
    assert!(broken.record(&id).await.is_none(), "the claim was released");

    let app = TestApp::with(&[SECRET], &aws::env("BILLING_EVENTS_TOPIC_ARN")).await;
    assert_eq!(app.deliver(&body, &signature).await.status, 200);
    assert_eq!(app.deliver(&body, &signature).await.status, 200);
    assert_eq!(app.published(&id).await.len(), 1);
}
