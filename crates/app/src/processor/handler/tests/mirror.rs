//! The Clerk mirror and announcements, and Clerk outages.
use super::*;

#[tokio::test]
async fn clerk_down_for_two_attempts_retries_the_record_without_adding_credits_twice() {
    let h = harness();
    h.stripe.set_line_items(
        "cs_pack",
        vec![("price_credits1000".into(), Some("credits_1000".into()), 1)],
    );
    h.clerk.fail_next(2);
    let body = credit_checkout("evt_pack", "cs_pack");
    assert_eq!(deliver(&h, std::slice::from_ref(&body), NOW).await, ["m0"]);
    assert_eq!(deliver(&h, std::slice::from_ref(&body), NOW).await, ["m0"]);
    assert!(deliver(&h, &[body], NOW).await.is_empty());
    assert_eq!(current(&h).credits, 1000);
    assert_eq!(h.clerk.billing(&user()).unwrap()["credits"], 1000);
    assert_eq!(
        h.publisher.events().len(),
        1,
        "announced once, after Clerk recovered"
    );
}

#[tokio::test]
async fn the_clerk_mirror_is_compact_and_only_written_when_it_changes() {
    let h = harness();
    h.stripe
        .set_subscription(CUSTOMER, state("active", PRO, false));
    deliver(&h, &[sub_event("evt_1", "subscription.created", NOW)], NOW).await;
    deliver(
        &h,
        &[sub_event("evt_2", "subscription.updated", NOW + 1)],
        NOW + 1,
    )
    .await;
    let billing = h.clerk.billing(&user()).unwrap();
    assert!(billing.to_string().len() < 1024);
    assert_eq!(billing["plan"], "professional");
    assert_eq!(billing["limits"]["agents"], 10);
    assert_eq!(h.clerk.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    let announced = h.publisher.events();
    assert_eq!(announced.len(), 1);
    let data = serde_json::to_value(&announced[0]).unwrap()["data"].clone();
    assert_eq!(data["previous"], serde_json::Value::Null);
    assert_eq!(data["current"]["plan"], "professional");
}
