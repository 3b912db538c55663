//! The processor with fakes at every port: event streams in any order and multiplicity, credits, grace,
//! poisoned records, Clerk outages, announcements.
use super::*;
use entitle_domain::entitlements::{Status, SubscriptionItem, SubscriptionState};
use entitle_domain::fakes::{
    InMemoryClerk, InMemoryCustomerDirectory, InMemoryEntitlementStore, InMemoryStripeState,
    InMemoryUsage, RecordingDeadLetters, RecordingMeter, RecordingPublisher, RecordingWorkQueue,
};
use entitle_domain::ids::UserId;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::EntitlementStore;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const USER: &str = "user_2abcDEFghiJKLmnoPQRstuVWxyz";
const CUSTOMER: &str = "cus_PqR5tUvWxYz012";
const SUB: &str = "sub_1QxR7tKx7Yz2LmNoA8fE3kWd";
const STARTER: &str = "price_local_starter_monthly";
const PRO: &str = "price_local_pro_monthly";
const NOW: i64 = 1_795_341_600;
const DAY: i64 = 86_400;

struct Harness {
    deps: Deps,
    store: Arc<InMemoryEntitlementStore>,
    usage: Arc<InMemoryUsage>,
    stripe: Arc<InMemoryStripeState>,
    clerk: Arc<InMemoryClerk>,
    publisher: Arc<RecordingPublisher>,
    dead: Arc<RecordingDeadLetters>,
    meter: Arc<RecordingMeter>,
    customers: Arc<InMemoryCustomerDirectory>,
    work: Arc<RecordingWorkQueue>,
}

fn harness() -> Harness {
    let store = Arc::new(InMemoryEntitlementStore::default());
    let usage = Arc::new(InMemoryUsage::default());
    let stripe = Arc::new(InMemoryStripeState::default());
    let clerk = Arc::new(InMemoryClerk::default());
    let publisher = Arc::new(RecordingPublisher::default());
    let dead = Arc::new(RecordingDeadLetters::default());
    let meter = Arc::new(RecordingMeter::default());
    let customers = Arc::new(InMemoryCustomerDirectory::default());
    let work = Arc::new(RecordingWorkQueue::default());
    Harness {
        deps: Deps {
            store: store.clone(),
            usage: usage.clone(),
            stripe: stripe.clone(),
            meter: meter.clone(),
            customers: customers.clone(),
            clerk: clerk.clone(),
            publisher: publisher.clone(),
            dead_letters: dead.clone(),
            work: work.clone(),
            catalog: PlanCatalog::builtin().clone(),
            grace: Duration::from_secs(7 * DAY as u64),
        },
        store,
        usage,
        stripe,
        clerk,
        publisher,
        dead,
        meter,
        customers,
        work,
    }
}

fn user() -> UserId {
    UserId::parse(USER).unwrap()
}

fn state(status: &str, price: &str, cancel_at_period_end: bool) -> SubscriptionState {
    SubscriptionState {
        id: SUB.into(),
        status: status.into(),
        // The catalog names its prices by lookup key: Stripe reports `price_local_<key>` with its key.
        items: vec![SubscriptionItem::new(
            price,
            price.strip_prefix("price_local_").map(str::to_owned),
            1,
        )],
        current_period_end: Some(NOW + 30 * DAY),
        cancel_at_period_end,
        trial_end: None,
        next_phase: None,
    }
}

fn event(id: &str, event_type: &str, at: i64, data: serde_json::Value) -> String {
    json!({
        "schemaVersion": 1, "id": id, "source": "stripe", "type": event_type,
        "occurredAt": UnixTime::from_secs(at).to_rfc3339(), "userId": USER, "stripeCustomerId": CUSTOMER,
        "data": data
    })
    .to_string()
}

fn sub_event(id: &str, event_type: &str, at: i64) -> String {
    event(
        id,
        event_type,
        at,
        json!({"subscriptionId": SUB, "status": "active", "items": []}),
    )
}

fn invoice_event(id: &str, event_type: &str, at: i64) -> String {
    event(
        id,
        event_type,
        at,
        json!({"invoiceId": format!("in_{id}"), "subscriptionId": SUB}),
    )
}

fn credit_checkout(id: &str, session: &str) -> String {
    event(
        id,
        "checkout.completed",
        NOW,
        json!({"sessionId": session, "mode": "payment", "paymentStatus": "paid"}),
    )
}

async fn deliver(h: &Harness, bodies: &[String], at: i64) -> Vec<String> {
    let records: Vec<_> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| json!({"messageId": format!("m{i}"), "body": body}))
        .collect();
    let reply = handle_at(
        &h.deps,
        json!({ "Records": records }),
        UnixTime::from_secs(at),
    )
    .await
    .unwrap();
    reply["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

/// Credits ledger rows in the usage table: one per checkout counted.
fn ledger_len(h: &Harness) -> usize {
    h.usage
        .records()
        .iter()
        .filter(|r| r.key.starts_with("checkout#") && r.credits != 0)
        .count()
}

fn current(h: &Harness) -> entitle_domain::entitlements::Entitlements {
    h.store
        .current(&user())
        .expect("entitlements stored")
        .entitlements
}

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
async fn a_credit_pack_adds_catalog_credits_times_quantity_exactly_once() {
    let h = harness();
    h.stripe.set_line_items(
        "cs_pack1",
        vec![("price_credits1000".into(), Some("credits_1000".into()), 3)],
    );
    h.stripe.set_line_items(
        "cs_pack2",
        vec![("price_credits5000".into(), Some("credits_5000".into()), 1)],
    );
    let first = credit_checkout("evt_pack1", "cs_pack1");
    deliver(&h, &[first.clone(), first.clone()], NOW).await;
    deliver(
        &h,
        &[first, credit_checkout("evt_pack1_again", "cs_pack1")],
        NOW,
    )
    .await;
    assert_eq!(current(&h).credits, 3000);
    deliver(&h, &[credit_checkout("evt_pack2", "cs_pack2")], NOW).await;
    assert_eq!(current(&h).credits, 8000);
    assert_eq!(ledger_len(&h), 2);
    // A plan change keeps the credits.
    h.stripe
        .set_subscription(CUSTOMER, state("active", STARTER, false));
    deliver(&h, &[sub_event("evt_s", "subscription.created", NOW)], NOW).await;
    assert_eq!(
        (current(&h).plan.as_str(), current(&h).credits),
        ("starter", 8000)
    );
}

#[tokio::test]
async fn a_credit_pack_adds_to_the_usage_balance_that_spends_come_from_and_the_row_mirrors_it() {
    use entitle_domain::ports::usage::{CounterKey, UsageStore};
    let h = harness();
    h.stripe.set_line_items(
        "cs_pack",
        vec![("price_credits1000".into(), Some("credits_1000".into()), 2)],
    );
    deliver(&h, &[credit_checkout("evt_pack", "cs_pack")], NOW).await;
    let balance = h.usage.counter(&user(), "credits");
    assert_eq!((balance.value, balance.reserved), (2000, 2000));
    let row = h.usage.record("checkout#cs_pack").await.unwrap().unwrap();
    assert_eq!(
        (row.credits, row.expires_at),
        (2000, None),
        "a kept ledger row"
    );
    // usage-api spends 300 of them; the next purchase's mirror is the live balance, not the row's old copy.
    let key = CounterKey {
        user: user(),
        name: "credits".into(),
        expires_at: None,
    };
    let spend = entitle_domain::usage::Change {
        value: -300,
        reserved: -300,
        spent: 300,
        guard: entitle_domain::usage::decision::Guard::ReservedAtLeast(300),
        add_hold: None,
        remove_holds: vec![],
    };
    h.usage.write(&key, &spend, None).await.unwrap();
    h.stripe.set_line_items(
        "cs_pack2",
        vec![("price_credits1000".into(), Some("credits_1000".into()), 1)],
    );
    deliver(&h, &[credit_checkout("evt_pack2", "cs_pack2")], NOW).await;
    assert_eq!(h.usage.counter(&user(), "credits").value, 2700);
    assert_eq!(current(&h).credits, 2700);
    assert_eq!(h.clerk.billing(&user()).unwrap()["credits"], 2700);
}

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
async fn reconcile_repairs_drift_from_stripes_current_state() {
    let h = harness();
    h.stripe
        .set_subscription(CUSTOMER, state("active", PRO, false));
    let customers = InMemoryCustomerDirectory::default();
    use entitle_domain::ports::CustomerDirectory;
    customers
        .link(
            &user(),
            &entitle_domain::ids::StripeCustomerId::parse(CUSTOMER).unwrap(),
            UnixTime::from_secs(NOW),
        )
        .await
        .unwrap();
    let mut h = h;
    h.deps.customers = Arc::new(customers);
    // Drift: someone wrote the wrong plan by hand.
    let wrong = entitle_domain::entitlements::Entitlements::on_plan(
        user(),
        PlanCatalog::builtin().plan("starter").unwrap(),
        Status::Active,
    );
    h.store.save(&wrong, None, None, None).await.unwrap();
    let reply = handle_at(
        &h.deps,
        json!({"reconcile": {"userId": USER}}),
        UnixTime::from_secs(NOW),
    )
    .await
    .unwrap();
    assert_eq!(reply["reconciled"], 1);
    assert_eq!(current(&h).plan, "professional");
    // The same drift again, repaired by a full reconcile: a fan-out through the processor's own queue.
    let stored = h.store.load(&user()).await.unwrap().unwrap();
    h.store
        .save(
            &wrong,
            Some(stored.version),
            Some(&stored.entitlements),
            None,
        )
        .await
        .unwrap();
    let reply = handle_at(
        &h.deps,
        json!({"reconcile": "all"}),
        UnixTime::from_secs(NOW),
    )
    .await
    .unwrap();
    assert_eq!(
        (reply["queued"].as_u64(), reply["done"].as_bool()),
        (Some(1), Some(true)),
        "{reply}"
    );
    assert_eq!(
        current(&h).plan,
        "starter",
        "queued, not done in the invocation"
    );
    let queued = h.work.take();
    assert_eq!(queued.len(), 1, "one message per user, no next page");
    assert!(deliver(&h, &queued, NOW).await.is_empty());
    assert_eq!(current(&h).plan, "professional");
}

#[tokio::test]
async fn a_full_reconcile_walks_every_user_a_page_per_message_and_resumes_from_any_page() {
    use entitle_domain::ports::CustomerDirectory;
    let h = harness();
    // 250 users: three pages of at most 100.
    for i in 0..250 {
        let user = UserId::parse(format!("user_fan{i:03}")).unwrap();
        let customer =
            entitle_domain::ids::StripeCustomerId::parse(format!("cus_Fan{i:03}")).unwrap();
        h.customers
            .link(&user, &customer, UnixTime::from_secs(NOW))
            .await
            .unwrap();
    }
    let reply = handle_at(
        &h.deps,
        json!({"reconcile": "all"}),
        UnixTime::from_secs(NOW),
    )
    .await
    .unwrap();
    assert_eq!(
        (reply["queued"].as_u64(), reply["done"].as_bool()),
        (Some(100), Some(false))
    );
    let mut requested = std::collections::BTreeSet::new();
    let mut pages = 1;
    let mut sent = h.work.take();
    loop {
        let (page, users): (Vec<_>, Vec<_>) =
            sent.iter().partition(|m| m.contains("reconcile.page"));
        for message in &users {
            let v: serde_json::Value = serde_json::from_str(message).unwrap();
            assert_eq!(v["type"], "reconcile.requested");
            assert!(
                requested.insert(v["userId"].as_str().unwrap().to_owned()),
                "each user once"
            );
        }
        match page.as_slice() {
            [] => break,
            [next] => {
                let next = (*next).clone();
                // The page message delivered twice (a redelivery): its users are queued twice, harmlessly.
                assert!(deliver(&h, std::slice::from_ref(&next), NOW)
                    .await
                    .is_empty());
                let again = h.work.take();
                assert!(deliver(&h, &[next], NOW).await.is_empty());
                assert_eq!(h.work.take(), again, "a page is deterministic");
                sent = again;
                pages += 1;
            }
            more => panic!("one next page, not {}", more.len()),
        }
    }
    assert_eq!((pages, requested.len()), (3, 250));
    // Each user's message reconciles them (no subscriptions here: the free plan), in any instance.
    let some: Vec<String> = ["user_fan000", "user_fan249"]
        .iter()
        .map(|u| {
            json!({"schemaVersion": 1, "id": format!("reconcile-x-{u}"), "source": "entitle",
                "type": "reconcile.requested", "occurredAt": "2026-11-22T10:00:00Z", "userId": u, "data": {}})
            .to_string()
        })
        .collect();
    assert!(deliver(&h, &some, NOW).await.is_empty());
    for u in ["user_fan000", "user_fan249"] {
        let user = UserId::parse(u).unwrap();
        assert_eq!(
            h.store
                .load(&user)
                .await
                .unwrap()
                .unwrap()
                .entitlements
                .plan,
            "free"
        );
    }
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

/// `usage.recorded` as usage-api publishes it: the user on the envelope, no customer (the processor looks
/// it up).
fn recorded(usage: usize, overage: i64) -> String {
    json!({
        "schemaVersion": 1, "id": format!("usage-recorded-u{usage}"), "source": "entitle",
        "type": "usage.recorded", "occurredAt": UnixTime::from_secs(NOW - 60).to_rfc3339(), "userId": USER,
        "data": {"userId": USER, "feature": "messages_per_month", "usageId": format!("u_usage{usage}"),
            "overage": overage, "period": "2026-11"}
    })
    .to_string()
}

async fn link_customer(h: &Harness) {
    use entitle_domain::ports::CustomerDirectory;
    let customer = entitle_domain::ids::StripeCustomerId::parse(CUSTOMER).unwrap();
    h.customers
        .link(&user(), &customer, UnixTime::from_secs(NOW))
        .await
        .unwrap();
}

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
            .find(|e| e.identifier == crate::overage::meter_identifier("u_usage3"))
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
        && r.fingerprint == crate::overage::meter_identifier("u_usage1")));
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
