//! Overage to Stripe's billing meter: `usage.recorded` events, redelivered and shuffled, some at the same
//! moment, through the production Stripe client against the local Stripe (which refuses a second event with
//! an identifier, as Stripe does) and the usage table of the local AWS.
use crate::helpers::{process, TestApp};
use entitle_core::adapters::DynamoCustomerDirectory;
use entitle_domain::catalog_sync::Action;
use entitle_domain::ids::StripeCustomerId;
use entitle_domain::ports::CustomerDirectory;
use entitle_domain::time::UnixTime;
use entitle_test_support::aws;
use entitle_test_support::fixtures::unique_id;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};

fn recorded(app: &TestApp, usage_id: &str, overage: i64) -> String {
    json!({
        "schemaVersion": 1, "id": format!("usage-recorded-{usage_id}"), "source": "entitle",
        "type": "usage.recorded", "occurredAt": UnixTime::now().to_rfc3339(), "userId": app.user.as_str(),
        "data": {"userId": app.user.as_str(), "feature": "messages_per_month", "usageId": usage_id,
            "overage": overage, "period": "2026-12"}
    })
    .to_string()
}

async fn with_meter_and_linked_customer(app: &TestApp) {
    let (mut products, mut features, mut meters) =
        (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    let meter = Action::CreateMeter {
        event_name: "entitle_messages_per_month".into(),
        display_name: "Messages per month (overage)".into(),
    };
    app.stripe_client
        .apply_catalog_action(&meter, &mut products, &mut features, &mut meters)
        .await
        .unwrap();
    let config = aws::sdk_config().await;
    DynamoCustomerDirectory::new(
        aws_sdk_dynamodb::Client::new(&config),
        aws::env("CUSTOMERS_TABLE"),
    )
    .link(
        &app.user,
        &StripeCustomerId::parse(&app.customer).unwrap(),
        UnixTime::now(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_thousand_overage_units_redelivered_and_shuffled_make_meter_events_summing_to_a_thousand()
{
    let app = TestApp::spawn().await;
    with_meter_and_linked_customer(&app).await;
    let run = unique_id("u_");
    // 50 usages: 25 of 12 units and 25 of 28, 1,000 in all.
    let usages: Vec<(String, i64)> = (0..50)
        .map(|i| (format!("{run}{i}"), if i % 2 == 0 { 12 } else { 28 }))
        .collect();
    assert_eq!(usages.iter().map(|(_, v)| v).sum::<i64>(), 1_000);
    // Every usage twice, every third one three times, in a shuffled order.
    let mut deliveries = Vec::new();
    for copy in 0..3 {
        for i in 0..usages.len() {
            let j = (i * 31 + copy * 7) % usages.len();
            if copy < 2 || j.is_multiple_of(3) {
                deliveries.push(recorded(&app, &usages[j].0, usages[j].1));
            }
        }
    }
    // Stripe fails a few meter events outright.
    app.stripe
        .fail_next(4, 500, "POST", "/v1/billing/meter_events");
    // The first usage delivered twice at the same moment (two Lambda instances on two copies).
    let twin = recorded(&app, &usages[0].0, usages[0].1);
    let (a, b) = tokio::join!(
        process(&app.deps, std::slice::from_ref(&twin)),
        process(&app.deps, std::slice::from_ref(&twin))
    );
    let mut pending: Vec<String> = a.iter().chain(&b).map(|_| twin.clone()).collect();
    pending.extend(deliveries);
    for _ in 0..6 {
        let mut retry = Vec::new();
        for batch in pending.chunks(10) {
            for id in process(&app.deps, batch).await {
                let i: usize = id.trim_start_matches('m').parse().unwrap();
                retry.push(batch[i].clone());
            }
        }
        pending = retry;
        if pending.is_empty() {
            break;
        }
    }
    assert!(pending.is_empty(), "every delivery applied in the end");
    let events = app.stripe.meter_events();
    let total: i64 = events
        .iter()
        .map(|e| {
            e["payload"]["value"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .unwrap()
        })
        .sum();
    assert_eq!(total, 1_000, "{events:#?}");
    let identifiers: HashSet<&str> = events
        .iter()
        .map(|e| e["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(events.len(), 50, "one meter event per usage");
    assert_eq!(identifiers.len(), 50, "each identifier once");
    assert!(events
        .iter()
        .all(|e| e["event_name"] == "entitle_messages_per_month"
            && e["payload"]["stripe_customer_id"] == app.customer.as_str()));
    let expected: HashSet<String> = usages
        .iter()
        .map(|(id, _)| entitlement_processor::overage::meter_identifier(id))
        .collect();
    assert_eq!(
        identifiers,
        expected.iter().map(String::as_str).collect::<HashSet<_>>()
    );
}

#[tokio::test]
async fn overage_of_a_limit_stripe_has_no_meter_for_is_dead_lettered_not_retried_forever() {
    let app = TestApp::spawn().await;
    let config = aws::sdk_config().await;
    DynamoCustomerDirectory::new(
        aws_sdk_dynamodb::Client::new(&config),
        aws::env("CUSTOMERS_TABLE"),
    )
    .link(
        &app.user,
        &StripeCustomerId::parse(&app.customer).unwrap(),
        UnixTime::now(),
    )
    .await
    .unwrap();
    // No meter: `catalog apply` was not run. Stripe answers 400 no_meter, which retrying cannot fix.
    let failures = process(&app.deps, &[recorded(&app, &unique_id("u_"), 5)]).await;
    assert!(failures.is_empty(), "dead-lettered, not retried");
    assert!(app.stripe.meter_events().is_empty());
}
