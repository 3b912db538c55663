//! A full reconcile fanned out through SQS: the customers table's real `Scan` pages and the real
//! `SendMessageBatch`, a page per message, each user once per walk.
use crate::helpers::{process, TestApp};
use entitle_core::adapters::DynamoCustomerDirectory;
use entitle_domain::ids::{StripeCustomerId, SubjectId};
use entitle_domain::ports::CustomerDirectory;
use entitle_domain::time::UnixTime;
use entitle_test_support::aws;
use entitle_test_support::fixtures::unique_id;
use entitlement_processor::handler::handle_at;
use serde_json::{json, Value};
use std::collections::HashSet;

#[tokio::test]
async fn reconcile_all_pages_the_customers_table_through_the_queue_and_reaches_every_user() {
    let app = TestApp::spawn().await;
    let config = aws::sdk_config().await;
    let customers = DynamoCustomerDirectory::new(
        aws_sdk_dynamodb::Client::new(&config),
        aws::env("CUSTOMERS_TABLE"),
    );
    // 230 users of ours (the table also holds other tests' users: they are walked too).
    let ours: HashSet<String> = (0..230).map(|_| unique_id("user_fan")).collect();
    for user in &ours {
        customers
            .link(
                &SubjectId::parse(user).unwrap(),
                &StripeCustomerId::parse(unique_id("cus_")).unwrap(),
                UnixTime::now(),
            )
            .await
            .unwrap();
    }
    let reply = handle_at(&app.deps, json!({"reconcile": "all"}), UnixTime::now())
        .await
        .unwrap();
    assert_eq!(reply["done"], false, "{reply}");
    let mut requested: Vec<String> = Vec::new();
    let mut pages = 1;
    loop {
        let messages = aws::drain(&app.sqs, &app.work_queue_url).await;
        let mut next = Vec::new();
        for m in &messages {
            let v: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            match v["type"].as_str() {
                Some("reconcile.requested") => requested.push(v["userId"].as_str().unwrap().into()),
                Some("reconcile.page") => next.push(m.body().unwrap().to_owned()),
                other => panic!("unexpected {other:?}"),
            }
        }
        match next.len() {
            0 => break,
            1 => {
                assert!(process(&app.deps, &next).await.is_empty());
                pages += 1;
            }
            n => panic!("one next page, not {n}"),
        }
    }
    let unique: HashSet<&String> = requested.iter().collect();
    assert_eq!(unique.len(), requested.len(), "each user once per walk");
    assert!(
        ours.iter().all(|u| unique.contains(u)),
        "every user of ours"
    );
    assert!(pages >= 3, "{pages} pages for {} users", requested.len());
    // A user's message reconciles them, wherever it is delivered.
    let mine = json!({"schemaVersion": 1, "id": unique_id("reconcile-"), "source": "entitle",
        "type": "reconcile.requested", "occurredAt": UnixTime::now().to_rfc3339(),
        "userId": app.user.as_str(), "data": {}})
    .to_string();
    assert!(process(&app.deps, &[mine]).await.is_empty());
    assert_eq!(app.entitlements().await.plan, "free");
}
