use crate::helpers::{deliver, TestApp};
use entitle_domain::customers::ensure_customer;
use entitle_domain::ids::SubjectId;
use entitle_domain::ports::CustomerDirectory;
use entitle_test_support::fixtures::unique_id;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_ensure_customer_calls_for_one_user_make_exactly_one_stripe_customer() {
    let app = TestApp::spawn().await;
    let user = SubjectId::parse(app.user_id.as_str()).unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (customers, stripe, user) = (
                app.customers.clone(),
                app.stripe_client.clone(),
                user.clone(),
            );
            tokio::spawn(async move {
                ensure_customer(customers.as_ref(), stripe.as_ref(), &user).await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(
            task.await
                .unwrap()
                .expect("every caller gets the customer")
                .customer,
        );
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every caller got the same customer");
    let stripe_customers = app.stripe_customers();
    assert_eq!(stripe_customers.len(), 1);
    assert_eq!(stripe_customers[0]["id"], ids[0].as_str());
    assert_eq!(
        app.customers.user_for_customer(&ids[0]).await.unwrap(),
        Some(user)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_message_delivered_ten_times_at_once_creates_one_customer_and_publishes_once() {
    let app = TestApp::spawn().await;
    let body = app.event("user.created");
    let message = unique_id("msg_");
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (deps, body, message) = (app.deps.clone(), body.clone(), message.clone());
            tokio::spawn(async move { deliver(&deps, &message, &body).await })
        })
        .collect();
    let mut applied = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            200 if reply.body == serde_json::json!({"received": true}) => applied += 1,
            200 => assert_eq!(reply.body["duplicate"], true),
            409 => assert_eq!(reply.body["error"]["code"], "in_progress"),
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert_eq!(applied, 1);
    assert_eq!(app.stripe_customers().len(), 1);
    assert_eq!(app.tap.messages_for(&message).await.len(), 1);
}

#[tokio::test]
async fn a_stripe_outage_answers_503_until_stripe_recovers_then_one_customer_exists() {
    let app = TestApp::spawn().await;
    app.stripe.fail_next(2, 500, "POST", "/v1/customers");
    let body = app.event("user.created");
    let message = unique_id("msg_");
    for attempt in 0..2 {
        let reply = app.deliver(&message, &body).await;
        assert_eq!(reply.status, 503, "attempt {attempt}");
    }
    assert!(app.stripe_customers().is_empty());
    assert_eq!(app.deliver(&message, &body).await.status, 200);
    assert_eq!(app.stripe_customers().len(), 1);
    assert_eq!(app.tap.messages_for(&message).await.len(), 1);
}
