//! Poisoned records and the queue's last attempt.
use super::*;

#[tokio::test]
async fn a_poisoned_record_fails_alone_and_goes_to_the_dead_letter_queue() {
    let h = harness();
    h.stripe
        .set_subscription(CUSTOMER, state("active", STARTER, false));
    // On the event's customer, as Stripe's events name a subscription's own customer.
    h.stripe.set_subscription(
        CUSTOMER,
        SubscriptionState {
            id: "sub_unknown".into(),
            ..state("active", "price_not_in_catalog", false)
        },
    );
    let unknown_price = event(
        "evt_unknown",
        "subscription.created",
        NOW,
        json!({"subscriptionId": "sub_unknown"}),
    );
    let nobody = json!({"schemaVersion": 1, "id": "evt_nobody", "source": "stripe", "type": "subscription.created", "occurredAt": "2026-11-22T10:00:00Z",
        "stripeCustomerId": "cus_Unknown123", "data": {"subscriptionId": SUB}}).to_string();
    let batch = [
        "{not json".to_owned(),
        sub_event("evt_good", "subscription.created", NOW),
        unknown_price,
        nobody,
    ];
    let failures = deliver(&h, &batch, NOW).await;
    assert!(
        failures.is_empty(),
        "permanent failures are dead-lettered, not retried"
    );
    assert_eq!(current(&h).plan, "starter", "the good record was applied");
    let letters = h.dead.letters.lock().unwrap().clone();
    assert_eq!(letters.len(), 3);
    assert!(letters[0].1.contains("not a billing event"));
    assert!(
        letters[1].1.contains("price_not_in_catalog"),
        "{}",
        letters[1].1
    );
    assert!(letters[2].1.contains("no user for customer"));
}

#[tokio::test]
async fn a_failure_on_the_queues_last_attempt_is_dead_lettered_with_its_reason() {
    let h = harness();
    link_customer(&h).await;
    *h.meter.fail_next.lock().unwrap() = 2;
    let body = recorded(1, 5);
    let at_attempt = |n: u32| {
        json!({"Records": [{"messageId": "m0", "body": body,
            "attributes": {"ApproximateReceiveCount": n.to_string()}}]})
    };
    let reply = handle_at(&h.deps, at_attempt(4), UnixTime::from_secs(NOW))
        .await
        .unwrap();
    assert_eq!(
        reply["batchItemFailures"].as_array().unwrap().len(),
        1,
        "retried"
    );
    assert!(h.dead.letters.lock().unwrap().is_empty());
    let reply = handle_at(&h.deps, at_attempt(MAX_RECEIVES), UnixTime::from_secs(NOW))
        .await
        .unwrap();
    assert!(reply["batchItemFailures"].as_array().unwrap().is_empty());
    let letters = h.dead.letters.lock().unwrap().clone();
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].1.contains("still failing after 5 attempts")
            && letters[0].1.contains("Stripe is unavailable"),
        "{}",
        letters[0].1
    );
    assert_eq!(h.meter.total(), 0);
}
