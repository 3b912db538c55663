//! Order and duplicates: any order and multiplicity of a stream ends on Stripe's state.
use super::*;

fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut all = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first.clone());
            all.push(tail);
        }
    }
    all
}

fn stream() -> Vec<String> {
    vec![
        sub_event("evt_created", "subscription.created", NOW),
        sub_event("evt_upgraded", "subscription.updated", NOW + DAY),
        invoice_event("evt_failed", "invoice.payment_failed", NOW + 30 * DAY),
        invoice_event("evt_paid", "invoice.paid", NOW + 31 * DAY),
    ]
}

#[tokio::test]
async fn every_order_of_the_stream_each_event_twice_ends_on_stripes_final_state() {
    let mut outcomes = std::collections::HashSet::new();
    for order in permutations(&stream()) {
        let h = harness();
        h.stripe
            .set_subscription(CUSTOMER, state("active", PRO, false));
        let doubled: Vec<String> = order.iter().flat_map(|e| [e.clone(), e.clone()]).collect();
        assert!(deliver(&h, &doubled, NOW + 32 * DAY).await.is_empty());
        let e = current(&h);
        outcomes.insert((e.plan.clone(), e.status, e.grace_until.clone()));
        assert_eq!(h.publisher.events().len(), 1, "one change, announced once");
    }
    assert_eq!(
        outcomes.into_iter().collect::<Vec<_>>(),
        [("professional".to_owned(), Status::Active, None)]
    );
}

#[tokio::test]
async fn every_order_ending_in_cancellation_ends_on_the_free_plan() {
    let mut events = stream();
    events.push(sub_event(
        "evt_deleted",
        "subscription.canceled",
        NOW + 40 * DAY,
    ));
    for order in permutations(&events) {
        let h = harness();
        h.stripe
            .set_subscription(CUSTOMER, state("canceled", PRO, false));
        assert!(deliver(&h, &order, NOW + 41 * DAY).await.is_empty());
        let e = current(&h);
        assert_eq!((e.plan.as_str(), e.status), ("free", Status::Free));
    }
}

#[tokio::test]
async fn a_late_event_about_an_old_subscription_does_not_replace_the_new_one() {
    let h = harness();
    h.stripe
        .set_subscription(CUSTOMER, state("active", PRO, false));
    deliver(
        &h,
        &[sub_event("evt_new", "subscription.created", NOW)],
        NOW,
    )
    .await;
    h.stripe.set_subscription(
        CUSTOMER,
        SubscriptionState {
            id: "sub_old".into(),
            ..state("canceled", STARTER, false)
        },
    );
    let old = event(
        "evt_old",
        "subscription.canceled",
        NOW - DAY,
        json!({"subscriptionId": "sub_old"}),
    );
    deliver(&h, &[old], NOW).await;
    assert_eq!(current(&h).plan, "professional");
}

#[tokio::test]
async fn a_plan_change_whose_events_arrive_in_reverse_order_ends_on_the_new_plan() {
    let h = harness();
    h.stripe
        .set_subscription(CUSTOMER, state("active", STARTER, false));
    deliver(&h, &[sub_event("evt_1", "subscription.created", NOW)], NOW).await;
    // The change (POST /subscription/change) is made: Stripe now says Pro, and its events come newest first.
    h.stripe
        .set_subscription(CUSTOMER, state("active", PRO, false));
    deliver(
        &h,
        &[
            sub_event("evt_3", "subscription.updated", NOW + 20),
            event(
                "evt_2",
                "invoice.paid",
                NOW + 10,
                json!({"invoiceId": "in_1", "subscriptionId": SUB, "status": "paid", "amountPaid": 7500, "currency": "usd"}),
            ),
        ],
        NOW + 30,
    )
    .await;
    assert_eq!(current(&h).plan, "professional");
}
