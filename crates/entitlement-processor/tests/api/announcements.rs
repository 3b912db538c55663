//! Every entitlements version is announced, once, even when the next version is written before its own
//! announcement goes out (found by the soak, docs/soak.md): the first event's version is written and its SNS
//! publish fails (here: a topic that does not exist), then the next event writes the next version. Before the
//! fix only the newest version was announced and the one in between — with its reasons — was lost.
use crate::helpers::{TestApp, PRO, STARTER};
use entitle_core::adapters::SnsPublisher;
use entitle_domain::ports::EntitlementStore;
use entitle_domain::time::UnixTime;
use entitle_test_support::aws;
use entitle_test_support::fixtures::unique_id;
use entitlement_processor::deps::Deps;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The processor's dependencies with a publisher whose every publish fails.
fn failing_publisher(app: &TestApp, config: &aws_config::SdkConfig) -> Deps {
    let d = &app.deps;
    Deps {
        store: d.store.clone(),
        history: d.history.clone(),
        usage: d.usage.clone(),
        stripe: d.stripe.clone(),
        meter: d.meter.clone(),
        customers: d.customers.clone(),
        clerk: d.clerk.clone(),
        members: d.members.clone(),
        lifecycle: d.lifecycle.clone(),
        publisher: Arc::new(SnsPublisher::new(
            aws_sdk_sns::Client::new(config),
            "arn:aws:sns:us-east-1:123456789012:no-such-topic".to_owned(),
        )),
        dead_letters: d.dead_letters.clone(),
        work: d.work.clone(),
        catalog: d.catalog.clone(),
        grace: d.grace,
        reconcile_rate: d.reconcile_rate,
    }
}

/// This test's user's announcements: id -> the `data` of each copy received.
async fn announced(app: &TestApp) -> BTreeMap<String, Vec<Value>> {
    let mut by_id: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for message in app.tap.messages().await {
        let body: Value = serde_json::from_str(message.body().unwrap_or("{}")).unwrap();
        if body["type"] == "entitlements.changed" && body["userId"] == app.user.as_str() {
            by_id
                .entry(body["id"].as_str().unwrap().to_owned())
                .or_default()
                .push(body["data"].clone());
        }
    }
    by_id
}

#[tokio::test]
async fn a_version_superseded_before_its_announcement_is_still_announced_once() {
    let app = TestApp::spawn().await;
    let config = aws::sdk_config().await;
    let sub = unique_id("sub_");
    let now = UnixTime::now().secs();

    // Starter: version 1 is written, its announcement fails; the record is left for a retry.
    app.subscription(&sub, STARTER, "active", false);
    let created = app.event(
        &unique_id("evt_"),
        "subscription.created",
        now - 60,
        json!({"subscriptionId": sub}),
    );
    let failing = failing_publisher(&app, &config);
    let failed = crate::helpers::process(&failing, std::slice::from_ref(&created)).await;
    assert_eq!(
        failed,
        vec!["m0".to_owned()],
        "the failed publish is retried"
    );
    let stored = app.store.load(&app.user).await.unwrap().expect("stored");
    assert_eq!(
        (stored.version, stored.announced_version),
        (1, 0),
        "written, not announced"
    );

    // An upgrade to Professional arrives before the retry: version 2.
    app.subscription(&sub, PRO, "active", false);
    let updated = app.event(
        &unique_id("evt_"),
        "subscription.updated",
        now - 30,
        json!({"subscriptionId": sub}),
    );
    assert!(app.process(std::slice::from_ref(&updated)).await.is_empty());
    // Then the retry of the first event: nothing left to announce.
    assert!(app.process(std::slice::from_ref(&created)).await.is_empty());

    let by_id = announced(&app).await;
    let v1 = format!("entitlements-{}-v1", app.user);
    let v2 = format!("entitlements-{}-v2", app.user);
    assert_eq!(
        by_id.keys().cloned().collect::<Vec<_>>(),
        vec![v1.clone(), v2.clone()],
        "every version announced: {by_id:?}"
    );
    assert_eq!(by_id[&v1].len(), 1, "version 1 announced once");
    assert_eq!(by_id[&v2].len(), 1, "version 2 announced once");
    let first = &by_id[&v1][0];
    assert_eq!(first["current"]["plan"], "starter");
    assert_eq!(first["previous"], Value::Null);
    let second = &by_id[&v2][0];
    assert_eq!(second["current"]["plan"], "professional");
    assert_eq!(second["previous"]["plan"], "starter");
    let stored = app.store.load(&app.user).await.unwrap().expect("stored");
    assert_eq!((stored.version, stored.announced_version), (2, 2));
}
