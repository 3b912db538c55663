//! Overage metering: exactly once, across Stripe's deduplication window, without a customer.
use super::*;

#[tokio::test]
async fn overage_delivered_three_times_shuffled_with_outages_is_metered_exactly_once() {
    let h = harness();
    link_customer(&h).await;
    // 1,000 overage units in 64 usages of uneven size.
    let values: Vec<i64> = (0..64).map(|i| if i < 40 { 10 } else { 25 }).collect();
    assert_eq!(values.iter().sum::<i64>(), 1_000);
    let mut deliveries: Vec<String> = Vec::new();
    for copy in 0..3 {
        for i in 0..values.len() {
            let j = (i * 37 + copy * 11) % values.len();
            deliveries.push(recorded(j, values[j]));
        }
    }
    *h.meter.fail_next.lock().unwrap() = 7;
    let mut pending = deliveries;
    for _ in 0..5 {
        let mut retry = Vec::new();
        for batch in pending.chunks(10) {
            for id in deliver(&h, batch, NOW).await {
                let i: usize = id.trim_start_matches('m').parse().unwrap();
                retry.push(batch[i].clone());
            }
        }
        pending = retry;
    }
    assert!(pending.is_empty(), "every delivery applied in the end");
    assert_eq!(h.meter.total(), 1_000);
    let events = h.meter.events.lock().unwrap().clone();
    assert_eq!(events.len(), 64, "one meter event per usage");
    let mut identifiers: Vec<_> = events.iter().map(|e| e.identifier.clone()).collect();
    identifiers.sort();
    identifiers.dedup();
    assert_eq!(identifiers.len(), 64, "each identifier once");
    assert!(events
        .iter()
        .all(|e| e.event_name == "entitle_messages_per_month"
            && e.customer.as_str() == CUSTOMER
            && e.timestamp.secs() == NOW - 60));
    assert_eq!(
        events
            .iter()
            .find(|e| e.identifier == crate::processor::overage::meter_identifier("u_usage3"))
            .map(|e| e.value),
        Some(10)
    );
    assert!(h.dead.letters.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_reported_overage_is_not_sent_again_after_stripes_deduplication_window() {
    let h = harness();
    link_customer(&h).await;
    assert!(deliver(&h, &[recorded(1, 5)], NOW).await.is_empty());
    // Stripe forgets identifiers after its window; the ledger row does not.
    h.meter.events.lock().unwrap().clear();
    assert!(deliver(&h, &[recorded(1, 5)], NOW + 3 * DAY)
        .await
        .is_empty());
    assert_eq!(
        h.meter.total(),
        0,
        "a redrive days later bills nothing twice"
    );
    assert!(h.usage.records().iter().any(|r| r.key == "metered#u_usage1"
        && r.fingerprint == crate::processor::overage::meter_identifier("u_usage1")));
}

#[tokio::test]
async fn overage_without_a_stripe_customer_is_dead_lettered_with_the_reason() {
    let h = harness();
    let failures = deliver(&h, &[recorded(1, 5)], NOW).await;
    assert!(failures.is_empty());
    assert_eq!(h.meter.total(), 0);
    let letters = h.dead.letters.lock().unwrap().clone();
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].1.contains("no Stripe customer for user"),
        "{}",
        letters[0].1
    );
}
