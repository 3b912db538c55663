use crate::helpers::{process, TestApp, CREDITS, PRO, STARTER};
use entitle_domain::entitlements::Status;
use entitle_domain::ids::SubjectId;
use entitle_domain::ports::usage::{CounterKey, UsageStore};
use entitle_domain::ports::{CheckoutMode, CheckoutRequest, StripeBilling};
use entitle_domain::time::UnixTime;
use entitle_test_support::aws;
use entitle_test_support::fixtures::unique_id;
use serde_json::json;

fn credits_key(user: &SubjectId) -> CounterKey {
    CounterKey {
        user: user.clone(),
        name: "credits".into(),
        expires_at: None,
    }
}

#[tokio::test]
async fn an_event_through_the_real_queue_becomes_entitlements_a_clerk_mirror_and_one_announcement()
{
    let app = TestApp::spawn().await;
    let sub = unique_id("sub_");
    app.subscription(&sub, STARTER, "active", false);
    let publisher = entitle_core::adapters::SnsPublisher::new(
        aws_sdk_sns::Client::new(&aws::sdk_config().await),
        aws::env("BILLING_EVENTS_TOPIC_ARN"),
    );
    let id = unique_id("evt_");
    let data = json!({"subscriptionId": sub, "status": "active", "items": [{"priceId": STARTER,
        "lookupKey": "starter_monthly", "productId": "prod_entitle", "quantity": 1}], "currentPeriodStart": null,
        "currentPeriodEnd": null, "cancelAtPeriodEnd": false, "cancelAt": null, "canceledAt": null, "endedAt": null,
        "trialEnd": null, "latestInvoiceId": null});
    let body = app.event(&id, "subscription.created", UnixTime::now().secs(), data);
    let event: entitle_domain::event::BillingEvent = serde_json::from_str(&body).unwrap();
    use entitle_domain::ports::EventPublisher;
    publisher.publish(&event).await.unwrap();

    // As Lambda's event source mapping would: the queue's records, as one batch.
    let queue = aws::env("ENTITLEMENT_QUEUE_URL");
    let bodies: Vec<String> = aws::drain(&app.sqs, &queue)
        .await
        .into_iter()
        .filter_map(|m| m.body().map(str::to_owned))
        .filter(|b| b.contains(&id))
        .collect();
    assert_eq!(bodies.len(), 1);
    assert!(app.process(&bodies).await.is_empty());

    let e = app.entitlements().await;
    assert_eq!((e.plan.as_str(), e.status), ("starter", Status::Active));
    assert_eq!(e.limits["agents"].to_string(), "3");
    assert_eq!(app.clerk_billing()["plan"], "starter");
    let announced: Vec<_> = app
        .tap
        .messages()
        .await
        .into_iter()
        .filter(|m| {
            m.body().is_some_and(|b| {
                b.contains("entitlements.changed") && b.contains(app.user.as_str())
            })
        })
        .collect();
    assert_eq!(announced.len(), 1);
    let changed: serde_json::Value = serde_json::from_str(announced[0].body().unwrap()).unwrap();
    assert_eq!(changed["source"], "entitle");
    assert_eq!(changed["data"]["current"]["plan"], "starter");
    assert_eq!(changed["data"]["previous"], serde_json::Value::Null);
    let attributes = announced[0].message_attributes().unwrap();
    assert_eq!(
        attributes["type"].string_value(),
        Some("entitlements.changed")
    );
    // The template's filter policy keeps the announcement off the processor's own queue.
    let own = aws::drain(&app.sqs, &queue).await;
    assert!(own.iter().all(|m| !m
        .body()
        .unwrap_or_default()
        .contains("entitlements.changed")));
}

#[tokio::test]
async fn shuffled_and_duplicated_streams_end_in_the_same_entitlements() {
    let orders: [[usize; 4]; 4] = [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]];
    let mut outcomes = Vec::new();
    for order in orders {
        let app = TestApp::spawn().await;
        let sub = unique_id("sub_");
        // Stripe's final state after created → upgraded → payment failed → paid.
        app.subscription(&sub, PRO, "active", false);
        let now = UnixTime::now().secs();
        let stream = [
            app.event(
                "evt_1",
                "subscription.created",
                now - 40,
                json!({"subscriptionId": sub}),
            ),
            app.event(
                "evt_2",
                "subscription.updated",
                now - 30,
                json!({"subscriptionId": sub}),
            ),
            app.event(
                "evt_3",
                "invoice.payment_failed",
                now - 20,
                json!({"subscriptionId": sub, "invoiceId": "in_1"}),
            ),
            app.event(
                "evt_4",
                "invoice.paid",
                now - 10,
                json!({"subscriptionId": sub, "invoiceId": "in_1"}),
            ),
        ];
        let batch: Vec<String> = order
            .iter()
            .flat_map(|&i| [stream[i].clone(), stream[i].clone()])
            .collect();
        assert!(app.process(&batch).await.is_empty());
        let e = app.entitlements().await;
        outcomes.push((
            e.plan,
            e.status,
            e.grace_until,
            app.clerk_billing()["plan"].clone(),
        ));
    }
    outcomes.dedup();
    assert_eq!(
        outcomes,
        [(
            "professional".to_owned(),
            Status::Active,
            None,
            json!("professional")
        )]
    );
}

#[tokio::test]
async fn a_batch_with_one_poisoned_record_applies_the_rest_and_dead_letters_the_poison() {
    let app = TestApp::spawn().await;
    let sub = unique_id("sub_");
    app.subscription(&sub, STARTER, "active", false);
    let poison = unique_id("evt_poison_");
    let unknown_sub = unique_id("sub_");
    app.stripe.seed_price(
        json!({"id": "price_not_in_the_catalog", "unit_amount": 100, "currency": "usd",
        "recurring": {"interval": "month"}, "product": "prod_other"}),
    );
    app.subscription(&unknown_sub, "price_not_in_the_catalog", "active", false);
    let batch = [
        app.event(
            &unique_id("evt_"),
            "subscription.created",
            UnixTime::now().secs(),
            json!({"subscriptionId": sub}),
        ),
        app.event(
            &poison,
            "subscription.updated",
            UnixTime::now().secs(),
            json!({"subscriptionId": unknown_sub}),
        ),
    ];
    assert!(
        app.process(&batch).await.is_empty(),
        "a permanent failure is dead-lettered, not retried"
    );
    assert_eq!(app.entitlements().await.plan, "starter");
    let dlq = aws::env("ENTITLEMENT_DLQ_URL");
    let letters: Vec<_> = aws::drain(&app.sqs, &dlq)
        .await
        .into_iter()
        .filter(|m| m.body().is_some_and(|b| b.contains(&poison)))
        .collect();
    assert_eq!(letters.len(), 1);
    let reason = letters[0].message_attributes().unwrap()["reason"]
        .string_value()
        .unwrap()
        .to_owned();
    assert!(reason.contains("price_not_in_the_catalog"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credit_packs_bought_twice_in_parallel_add_each_checkout_once() {
    let app = TestApp::spawn().await;
    let customer = entitle_domain::ids::StripeCustomerId::parse(app.customer.as_str()).unwrap();
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let request = CheckoutRequest {
            user: &app.user,
            customer: &customer,
            mode: CheckoutMode::Payment,
            price_id: CREDITS,
            quantity: 2,
            success_url: "https://app.entitle.test/ok",
            cancel_url: "https://app.entitle.test/no",
            allow_promotion_codes: false,
            trial: None,
            seats: None,
        };
        let session = app
            .stripe_client
            .create_checkout_session(&request, &unique_id("checkout-"))
            .await
            .unwrap();
        sessions.push(session.id);
    }
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let session = sessions[i % 2].clone();
            let body = app.event(
                &format!("evt_paid_{}", i % 2),
                "checkout.completed",
                UnixTime::now().secs(),
                json!({"sessionId": session, "mode": "payment", "paymentStatus": "paid"}),
            );
            let deps = app.deps.clone();
            tokio::spawn(async move { process(&deps, &[body]).await })
        })
        .collect();
    let mut retried = 0;
    for task in tasks {
        retried += task.await.unwrap().len();
    }
    assert_eq!(retried, 0);
    let e = app.entitlements().await;
    assert_eq!(
        e.credits, 4000,
        "two checkouts of 2 × 1,000 credits, each counted once"
    );
    let mut ledger = Vec::new();
    for session in &sessions {
        let row = app
            .usage
            .record(&format!("checkout#{session}"))
            .await
            .unwrap();
        ledger.extend(row.map(|r| (r.key, r.credits)));
    }
    assert_eq!(ledger.len(), 2);
    assert!(ledger.iter().all(|(_, credits)| *credits == 2000));
    let (_, balance) = app
        .usage
        .counters(&app.user, &[credits_key(&app.user)])
        .await
        .unwrap();
    assert_eq!(
        balance[0].value, 4000,
        "the balance usage-api spends is the one credited"
    );
    assert_eq!(app.clerk_billing()["credits"], 4000);
}

#[tokio::test]
async fn clerk_failing_twice_makes_the_record_retry_and_the_retry_adds_no_second_credit() {
    let app = TestApp::spawn().await;
    let customer = entitle_domain::ids::StripeCustomerId::parse(app.customer.as_str()).unwrap();
    let request = CheckoutRequest {
        user: &app.user,
        customer: &customer,
        mode: CheckoutMode::Payment,
        price_id: CREDITS,
        quantity: 1,
        success_url: "https://app.entitle.test/ok",
        cancel_url: "https://app.entitle.test/no",
        allow_promotion_codes: false,
        trial: None,
        seats: None,
    };
    let session = app
        .stripe_client
        .create_checkout_session(&request, "checkout-clerk-test")
        .await
        .unwrap();
    let body = app.event(
        "evt_paid",
        "checkout.completed",
        UnixTime::now().secs(),
        json!({"sessionId": session.id, "mode": "payment", "paymentStatus": "paid"}),
    );
    app.clerk.fail_next(2, 503, "/v1/users");
    assert_eq!(app.process(std::slice::from_ref(&body)).await, ["m0"]);
    assert_eq!(app.process(std::slice::from_ref(&body)).await, ["m0"]);
    assert!(app.process(std::slice::from_ref(&body)).await.is_empty());
    assert_eq!(app.entitlements().await.credits, 1000);
    assert_eq!(app.clerk_billing()["credits"], 1000);
    let announcements = app
        .tap
        .messages()
        .await
        .into_iter()
        .filter(|m| {
            m.body().is_some_and(|b| {
                b.contains("entitlements.changed") && b.contains(app.user.as_str())
            })
        })
        .count();
    assert_eq!(announcements, 1);
}

#[tokio::test]
async fn reconcile_repairs_drift_from_stripes_current_state() {
    let app = TestApp::spawn().await;
    let sub = unique_id("sub_");
    app.subscription(&sub, PRO, "active", false);
    use entitle_domain::ports::CustomerDirectory;
    let customers = entitle_core::adapters::DynamoCustomerDirectory::new(
        aws_sdk_dynamodb::Client::new(&aws::sdk_config().await),
        aws::env("CUSTOMERS_TABLE"),
    );
    let customer = entitle_domain::ids::StripeCustomerId::parse(app.customer.as_str()).unwrap();
    customers
        .link(&app.user, &customer, UnixTime::now())
        .await
        .unwrap();
    let drift = entitle_domain::entitlements::Entitlements::on_plan(
        app.user.clone(),
        entitle_domain::plans::PlanCatalog::builtin()
            .plan("starter")
            .unwrap(),
        Status::Active,
    );
    app.store.put(&drift).await.unwrap();
    let reply = entitlement_processor::handler::handle_at(
        &app.deps,
        json!({"reconcile": {"userId": app.user.as_str()}}),
        UnixTime::now(),
    )
    .await
    .unwrap();
    assert_eq!(reply["reconciled"], 1);
    assert_eq!(app.entitlements().await.plan, "professional");
    assert_eq!(app.clerk_billing()["plan"], "professional");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_credit_pack_purchase_racing_fifty_spends_of_the_same_balance_loses_neither() {
    use entitle_domain::plans::PlanCatalog;
    use entitle_domain::ports::usage::WriteOutcome;
    use entitle_domain::usage::{account, decision, LimitKind};
    use std::sync::Arc;
    let app = TestApp::spawn().await;
    let customer = entitle_domain::ids::StripeCustomerId::parse(app.customer.as_str()).unwrap();
    let mut bodies = Vec::new();
    for i in 0..2 {
        let request = CheckoutRequest {
            user: &app.user,
            customer: &customer,
            mode: CheckoutMode::Payment,
            price_id: CREDITS,
            quantity: 1,
            success_url: "https://app.entitle.test/ok",
            cancel_url: "https://app.entitle.test/no",
            allow_promotion_codes: false,
            trial: None,
            seats: None,
        };
        let session = app
            .stripe_client
            .create_checkout_session(&request, &unique_id("checkout-"))
            .await
            .unwrap();
        bodies.push(app.event(
            &unique_id(&format!("evt_pack{i}_")),
            "checkout.completed",
            UnixTime::now().secs(),
            json!({"sessionId": session.id, "mode": "payment", "paymentStatus": "paid"}),
        ));
    }
    assert!(app.process(&bodies[..1]).await.is_empty());
    // Fifty spends of one credit, as usage-api makes them (read, decide, conditional write, retry on a lost
    // race), racing the second purchase through the processor.
    let key = credits_key(&app.user);
    let free =
        entitle_domain::entitlements::Entitlements::free(app.user.clone(), PlanCatalog::builtin());
    let allowance = account::allowance(PlanCatalog::builtin(), &free, "credits");
    let usage = Arc::clone(&app.usage);
    let spends: Vec<_> = (0..50)
        .map(|_| {
            let usage = Arc::clone(&usage);
            let key = key.clone();
            tokio::spawn(async move {
                loop {
                    let now = UnixTime::now();
                    let snapshot = usage.snapshot(&key, None).await.unwrap();
                    let (_, change) = decision::consume(
                        LimitKind::Credits,
                        allowance,
                        &snapshot.counter,
                        1,
                        None,
                        now,
                    )
                    .unwrap();
                    let Some(change) = change else { return false };
                    if usage.write(&key, &change, None).await.unwrap() == WriteOutcome::Applied {
                        return true;
                    }
                }
            })
        })
        .collect();
    let deps = app.deps.clone();
    let second = bodies[1].clone();
    let purchase = tokio::spawn(async move { process(&deps, &[second]).await });
    let mut allowed = 0;
    for spend in spends {
        allowed += usize::from(spend.await.unwrap());
    }
    assert!(
        purchase.await.unwrap().is_empty(),
        "the purchase was applied"
    );
    assert_eq!(allowed, 50);
    let (_, counters) = app.usage.counters(&app.user, &[key]).await.unwrap();
    assert_eq!(
        (counters[0].value, counters[0].spent),
        (2000 - 50, 50),
        "both purchases and every spend counted"
    );
}
