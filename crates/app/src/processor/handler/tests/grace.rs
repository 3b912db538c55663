//! Past due, grace, the hourly sweep, cancellation at period end and trials.
use super::*;

#[tokio::test]
async fn the_grace_period_counts_from_the_first_failed_payment_not_from_processing() {
    let h = harness();
    h.stripe
        .set_subscription(CUSTOMER, state("past_due", PRO, false));
    let failed_at = NOW + 30 * DAY;
    // The subscription update reaches us first, two days late; the failed invoice after it.
    deliver(
        &h,
        &[sub_event("evt_u", "subscription.updated", failed_at + 60)],
        failed_at + 2 * DAY,
    )
    .await;
    deliver(
        &h,
        &[invoice_event("evt_f", "invoice.payment_failed", failed_at)],
        failed_at + 2 * DAY,
    )
    .await;
    let e = current(&h);
    assert_eq!(
        (e.plan.as_str(), e.status),
        ("professional", Status::PastDue)
    );
    assert_eq!(
        e.grace_until,
        Some(UnixTime::from_secs(failed_at + 7 * DAY).to_rfc3339())
    );
    // The payment goes through: grace over.
    h.stripe
        .set_subscription(CUSTOMER, state("active", PRO, false));
    deliver(
        &h,
        &[invoice_event("evt_p", "invoice.paid", failed_at + 3 * DAY)],
        failed_at + 3 * DAY,
    )
    .await;
    let e = current(&h);
    assert_eq!((e.status, e.grace_until), (Status::Active, None));
}

#[tokio::test]
async fn a_past_due_update_alone_starts_the_grace_when_stripe_sent_it_not_when_it_arrived() {
    let h = harness();
    h.stripe
        .set_subscription(CUSTOMER, state("past_due", PRO, false));
    let past_due_at = NOW + 30 * DAY;
    // Only the subscription update, redriven from the DLQ three days late.
    deliver(
        &h,
        &[event(
            "evt_u",
            "subscription.updated",
            past_due_at,
            json!({"subscriptionId": SUB, "status": "past_due", "items": []}),
        )],
        past_due_at + 3 * DAY,
    )
    .await;
    let e = current(&h);
    assert_eq!(e.status, Status::PastDue);
    assert_eq!(
        e.grace_until,
        Some(UnixTime::from_secs(past_due_at + 7 * DAY).to_rfc3339())
    );
}

#[tokio::test]
async fn an_expired_grace_period_is_downgraded_by_the_hourly_sweep_without_any_event() {
    let h = harness();
    h.stripe
        .set_subscription(CUSTOMER, state("past_due", PRO, false));
    deliver(
        &h,
        &[invoice_event("evt_f", "invoice.payment_failed", NOW)],
        NOW,
    )
    .await;
    let reply = handle_at(
        &h.deps,
        json!({"source": "aws.events", "detail-type": "Scheduled Event"}),
        UnixTime::from_secs(NOW + 6 * DAY),
    )
    .await
    .unwrap();
    assert_eq!(reply["downgraded"], 0, "still in grace");
    let reply = handle_at(
        &h.deps,
        json!({"sweep": true}),
        UnixTime::from_secs(NOW + 7 * DAY + 1),
    )
    .await
    .unwrap();
    assert_eq!(reply["downgraded"], 1);
    let e = current(&h);
    assert_eq!((e.plan.as_str(), e.status), ("free", Status::Free));
    assert_eq!(h.clerk.billing(&user()).unwrap()["plan"], "free");
    let announced = h.publisher.events();
    assert_eq!(announced.len(), 2);
    assert_eq!(announced[1].event_type.as_str(), "entitlements.changed");
}

#[tokio::test]
async fn cancel_at_period_end_keeps_the_plan_until_the_period_ends() {
    let h = harness();
    h.stripe
        .set_subscription(CUSTOMER, state("active", STARTER, true));
    deliver(&h, &[sub_event("evt_c", "subscription.updated", NOW)], NOW).await;
    let e = current(&h);
    assert_eq!((e.plan.as_str(), e.status), ("starter", Status::Canceling));
    assert_eq!(
        e.period_end,
        Some(UnixTime::from_secs(NOW + 30 * DAY).to_rfc3339())
    );
    handle_at(
        &h.deps,
        json!({"sweep": true}),
        UnixTime::from_secs(NOW + 30 * DAY + 1),
    )
    .await
    .unwrap();
    assert_eq!(current(&h).plan, "free");
}

#[tokio::test]
async fn a_trialing_subscription_grants_its_plan_with_the_trial_end() {
    let h = harness();
    h.stripe.set_subscription(
        CUSTOMER,
        SubscriptionState {
            trial_end: Some(NOW + 14 * DAY),
            next_phase: None,
            ..state("trialing", PRO, false)
        },
    );
    deliver(&h, &[sub_event("evt_t", "subscription.created", NOW)], NOW).await;
    let e = current(&h);
    assert_eq!(
        (e.plan.as_str(), e.status),
        ("professional", Status::Trialing)
    );
    assert_eq!(
        e.trial_end,
        Some(UnixTime::from_secs(NOW + 14 * DAY).to_rfc3339())
    );
    // A trial that ends without a payment method lapses as Stripe says (here: paused): back to free.
    h.stripe
        .set_subscription(CUSTOMER, state("paused", PRO, false));
    deliver(
        &h,
        &[sub_event("evt_p", "subscription.updated", NOW + 14 * DAY)],
        NOW + 14 * DAY,
    )
    .await;
    let e = current(&h);
    assert_eq!(
        (e.plan.as_str(), e.status, e.trial_end),
        ("free", Status::Free, None)
    );
}
