//! Entitlements from the customer's whole state, through the real adapters (local AWS, the Stripe
//! stand-in): several live plans, add-ons on the base subscription and on their own, every delivery order,
//! every event twice.
use crate::helpers::{TestApp, ADDON, PRO, STARTER};
use entitle_domain::entitlements::{Entitlements, Status};
use entitle_domain::time::UnixTime;
use entitle_test_support::fixtures::unique_id;
use serde_json::json;

/// The orders a test plays its events in: as sent, reversed, and two interleavings.
fn orders(n: usize) -> Vec<Vec<usize>> {
    let sent: Vec<usize> = (0..n).collect();
    let reversed: Vec<usize> = sent.iter().rev().copied().collect();
    let odd_first: Vec<usize> = sent
        .iter()
        .filter(|i| *i % 2 == 1)
        .chain(sent.iter().filter(|i| *i % 2 == 0))
        .copied()
        .collect();
    let middle_out: Vec<usize> = (0..n).map(|i| (i + n / 2) % n).collect();
    vec![sent, reversed, odd_first, middle_out]
}

/// Delivers `events` in `order`, each twice (the copy right after the first, as SQS may redeliver), one
/// record per batch so that every event is processed against the state left by the one before.
async fn play(app: &TestApp, events: &[String], order: &[usize]) {
    for &i in order {
        for _ in 0..2 {
            let failed = app.process(std::slice::from_ref(&events[i])).await;
            assert!(failed.is_empty(), "event {i} failed");
        }
    }
}

fn sub_event(app: &TestApp, sub: &str, event_type: &str, at: i64) -> String {
    app.event(
        &unique_id("evt_"),
        event_type,
        at,
        json!({"subscriptionId": sub}),
    )
}

/// The `data.current` of every `entitlements.changed` announced for this test's user (a standard queue:
/// in no particular order).
async fn announced(app: &TestApp) -> Vec<serde_json::Value> {
    let changed: Vec<serde_json::Value> = app
        .tap
        .messages()
        .await
        .into_iter()
        .filter_map(|m| serde_json::from_str::<serde_json::Value>(m.body()?).ok())
        .filter(|e| e["type"] == "entitlements.changed" && e["userId"] == app.user.as_str())
        .inspect(|e| {
            assert_eq!(
                e["subject"],
                json!({"type": "user", "id": app.user.as_str()}),
                "the subject, typed"
            )
        })
        .map(|e| e["data"]["current"].clone())
        .collect();
    assert!(!changed.is_empty(), "nothing announced");
    changed
}

/// What must not depend on the order: everything but ids and timestamps that differ per app.
fn grant(e: &Entitlements) -> serde_json::Value {
    json!({
        "plan": e.plan, "status": e.status, "features": e.features, "limits": e.limits,
        "addons": e.addons.iter().map(|a| (a.plan.clone(), a.quantity)).collect::<Vec<_>>(),
        "others": e.other_subscriptions.iter().map(|o| o.plan.clone()).collect::<Vec<_>>(),
    })
}

#[tokio::test]
async fn two_live_plans_end_on_the_higher_ranked_one_in_every_order_with_the_other_listed() {
    let mut results = Vec::new();
    for order in orders(4) {
        let app = TestApp::spawn().await;
        let (starter, pro) = (unique_id("sub_"), unique_id("sub_"));
        app.subscription(&starter, STARTER, "active", false);
        app.subscription(&pro, PRO, "active", false);
        let now = UnixTime::now().secs();
        let events = [
            sub_event(&app, &starter, "subscription.created", now - 60),
            sub_event(&app, &pro, "subscription.created", now - 50),
            app.event(
                &unique_id("evt_"),
                "invoice.paid",
                now - 40,
                json!({"invoiceId": unique_id("in_"), "subscriptionId": starter}),
            ),
            app.event(
                &unique_id("evt_"),
                "invoice.paid",
                now - 30,
                json!({"invoiceId": unique_id("in_"), "subscriptionId": pro}),
            ),
        ];
        play(&app, &events, &order).await;
        let e = app.entitlements().await;
        assert_eq!(
            (e.plan.as_str(), e.status),
            ("professional", Status::Active),
            "order {order:?}"
        );
        assert_eq!(e.subscription_id.as_deref(), Some(pro.as_str()));
        assert_eq!(e.other_subscriptions.len(), 1);
        assert_eq!(
            (
                e.other_subscriptions[0].subscription_id.as_str(),
                e.other_subscriptions[0].plan.as_str()
            ),
            (starter.as_str(), "starter")
        );
        let clerk = app.clerk_billing();
        assert_eq!(
            (clerk["plan"].as_str(), clerk["limits"]["agents"].as_u64()),
            (Some("professional"), Some(10))
        );
        assert!(announced(&app)
            .await
            .iter()
            .any(|current| current["plan"] == "professional"
                && current["otherSubscriptions"][0]["plan"] == "starter"));
        results.push(grant(&e));
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:#?}");
}

#[tokio::test]
async fn an_addon_item_and_an_addon_subscription_add_their_limits_and_join_their_features() {
    let mut results = Vec::new();
    for order in orders(2) {
        let app = TestApp::spawn().await;
        let (base, extra) = (unique_id("sub_"), unique_id("sub_"));
        app.subscription_items(&base, &[(STARTER, 1), (ADDON, 2)], "active", false);
        app.subscription_items(&extra, &[(ADDON, 1)], "active", false);
        let now = UnixTime::now().secs();
        let events = [
            sub_event(&app, &base, "subscription.created", now - 60),
            sub_event(&app, &extra, "subscription.created", now - 30),
        ];
        play(&app, &events, &order).await;
        let e = app.entitlements().await;
        assert_eq!((e.plan.as_str(), e.status), ("starter", Status::Active));
        assert_eq!(
            e.subscription_id.as_deref(),
            Some(base.as_str()),
            "the add-on subscription never names the plan"
        );
        // Starter's 3 agents and 1,000 messages, plus 5 and 1,000 per add-on unit, three units.
        assert_eq!(e.limits["agents"].to_string(), "18");
        assert_eq!(e.limits["messages_per_day"].to_string(), "4000");
        assert!(e.features.contains("audit_log") && e.features.contains("api_access"));
        assert!(
            e.other_subscriptions.is_empty(),
            "add-ons are not a double subscription"
        );
        let clerk = app.clerk_billing();
        assert_eq!(clerk["limits"]["agents"], 18);
        assert!(clerk["features"]
            .as_array()
            .unwrap()
            .contains(&json!("audit_log")));
        assert!(announced(&app)
            .await
            .iter()
            .any(|current| current["limits"]["agents"] == 18
                && current["addons"].as_array().map(Vec::len) == Some(2)));
        results.push(grant(&e));
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:#?}");
}

#[tokio::test]
async fn the_base_plan_canceled_while_an_addon_lives_is_the_free_plan_plus_the_addon() {
    let mut results = Vec::new();
    for order in orders(3) {
        let app = TestApp::spawn().await;
        let (base, extra) = (unique_id("sub_"), unique_id("sub_"));
        app.subscription(&base, PRO, "canceled", false);
        app.subscription_items(&extra, &[(ADDON, 1)], "active", false);
        let now = UnixTime::now().secs();
        let events = [
            sub_event(&app, &base, "subscription.created", now - 90),
            sub_event(&app, &extra, "subscription.created", now - 60),
            sub_event(&app, &base, "subscription.canceled", now - 30),
        ];
        play(&app, &events, &order).await;
        let e = app.entitlements().await;
        assert_eq!(
            (e.plan.as_str(), e.status),
            ("free", Status::Free),
            "order {order:?}"
        );
        assert_eq!(e.subscription_id, None);
        assert_eq!(e.limits["agents"].to_string(), "6");
        assert_eq!(e.limits["messages_per_day"].to_string(), "1100");
        assert!(e.features.contains("audit_log"));
        assert_eq!(app.clerk_billing()["plan"], "free");
        assert_eq!(app.clerk_billing()["limits"]["agents"], 6);
        assert!(announced(&app).await.iter().any(
            |current| current["plan"] == "free" && current["addons"][0]["plan"] == "team_pack"
        ));
        results.push(grant(&e));
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:#?}");
}

#[tokio::test]
async fn a_plan_change_made_in_stripe_with_its_events_in_reverse_order_ends_on_the_new_plan() {
    use entitle_domain::ports::{PlanChange, Proration, SubscriptionLifecycle};
    let app = TestApp::spawn().await;
    let sub = unique_id("sub_");
    app.subscription(&sub, STARTER, "active", false);
    let now = UnixTime::now().secs();
    let created = sub_event(&app, &sub, "subscription.created", now - 120);
    assert!(app.process(std::slice::from_ref(&created)).await.is_empty());
    assert_eq!(app.entitlements().await.plan, "starter");

    // The change through the production client, as billing-api's POST /subscription/change makes it.
    let details = app
        .stripe_client
        .subscription(&sub)
        .await
        .unwrap()
        .expect("the subscription");
    app.stripe_client
        .change_plan(
            &PlanChange {
                subscription: &sub,
                writes: details.writes + 1,
                item_id: &details.items[0].id,
                quantity: details.items[0].quantity,
                price_id: PRO,
                proration: Proration::CreateProrations,
            },
            &unique_id("change-"),
        )
        .await
        .unwrap();
    let updated = sub_event(&app, &sub, "subscription.updated", now - 60);
    let paid = app.event(
        &unique_id("evt_"),
        "invoice.paid",
        now - 30,
        json!({"invoiceId": unique_id("in_"), "subscriptionId": sub}),
    );
    // Newest first, the oldest last, each twice.
    play(&app, &[paid, updated, created], &[0, 1, 2]).await;
    let e = app.entitlements().await;
    assert_eq!(
        (e.plan.as_str(), e.status),
        ("professional", Status::Active)
    );
    assert_eq!(app.clerk_billing()["plan"], "professional");
}

#[tokio::test]
async fn a_trial_grants_its_plan_with_its_end_and_a_trial_that_lapses_without_a_card_falls_to_free()
{
    let app = TestApp::spawn().await;
    let sub = unique_id("sub_");
    let now = UnixTime::now().secs();
    let trial_end = now + 14 * 86_400;
    let seed = |status: &str| {
        app.stripe.seed_subscription(json!({
            "id": sub, "customer": app.customer, "price": PRO, "status": status,
            "trial_end": trial_end, "missing_payment_method": "pause",
            "metadata": {"userId": app.user.as_str()}
        }))
    };
    let seeded = seed("trialing");
    assert_eq!(seeded["trial_end"], trial_end);
    assert_eq!(
        seeded["trial_settings"]["end_behavior"]["missing_payment_method"],
        "pause"
    );
    let created = sub_event(&app, &sub, "subscription.created", now - 60);
    let will_end = sub_event(&app, &sub, "subscription.trial_will_end", now - 30);
    play(&app, &[created.clone(), will_end.clone()], &[1, 0]).await;
    let e = app.entitlements().await;
    assert_eq!(
        (e.plan.as_str(), e.status),
        ("professional", Status::Trialing)
    );
    assert_eq!(
        e.trial_end,
        Some(UnixTime::from_secs(trial_end).to_rfc3339())
    );
    assert_eq!(app.clerk_billing()["status"], "trialing");

    // The trial ended with no payment method: Stripe pauses the subscription, and the plan goes.
    seed("paused");
    let updated = sub_event(&app, &sub, "subscription.updated", now);
    play(&app, &[created, will_end, updated], &[2, 0, 1]).await;
    let e = app.entitlements().await;
    assert_eq!((e.plan.as_str(), e.status), ("free", Status::Free));
    assert_eq!(e.trial_end, None);
    assert_eq!(app.clerk_billing()["plan"], "free");
}

#[tokio::test]
async fn a_subscription_on_an_archived_price_whose_lookup_key_moved_keeps_its_plan_and_is_not_dead_lettered(
) {
    let app = TestApp::spawn().await;
    // A catalog price change made by `entitle catalog apply`: the old starter price is archived, its lookup
    // key moved to the new one, and only its `metadata.entitle` still names the plan.
    let old = unique_id("price_");
    app.stripe
        .seed_price(json!({"id": old, "unit_amount": 3900, "currency": "usd",
        "recurring": {"interval": "month"}, "product": "prod_entitle", "active": false,
        "metadata": {"entitle": "starter"}}));
    let sub = unique_id("sub_");
    app.subscription(&sub, &old, "active", false);
    let created = sub_event(
        &app,
        &sub,
        "subscription.created",
        UnixTime::now().secs() - 60,
    );
    play(&app, std::slice::from_ref(&created), &[0]).await;
    let e = app.entitlements().await;
    assert_eq!((e.plan.as_str(), e.status), ("starter", Status::Active));
    assert_eq!(e.subscription_id.as_deref(), Some(sub.as_str()));
}

#[tokio::test]
async fn a_change_scheduled_for_the_period_end_is_kept_in_the_entitlements_and_the_mirror_until_released(
) {
    use entitle_domain::ports::{PeriodEndChange, PhaseItem, SubscriptionLifecycle};
    let app = TestApp::spawn().await;
    let sub = unique_id("sub_");
    app.subscription(&sub, STARTER, "active", false);
    let now = UnixTime::now().secs();
    assert!(app
        .process(&[sub_event(&app, &sub, "subscription.created", now - 120)])
        .await
        .is_empty());
    assert_eq!(app.entitlements().await.scheduled_change, None);

    // billing-api's POST /subscription/change {"at": "period_end"}, through the production client.
    let phase = |price: &str| {
        vec![PhaseItem {
            price: price.to_owned(),
            quantity: Some(1),
        }]
    };
    let scheduled = app
        .stripe_client
        .schedule_plan_change(
            &PeriodEndChange {
                subscription: &sub,
                schedule: None,
                current: phase(STARTER),
                next: phase(PRO),
            },
            &unique_id("schedule-"),
        )
        .await
        .unwrap();
    let schedule = app
        .stripe_client
        .subscription(&sub)
        .await
        .unwrap()
        .unwrap()
        .schedule
        .expect("the schedule manages it");
    let changed = |at: i64| {
        app.event(
            &unique_id("evt_"),
            "subscription.schedule_changed",
            at,
            json!({"scheduleId": schedule, "status": "active", "subscriptionId": sub}),
        )
    };
    assert!(app.process(&[changed(now - 60)]).await.is_empty());
    let e = app.entitlements().await;
    assert_eq!(e.plan, "starter", "the plan stays until the period ends");
    let expected = entitle_domain::entitlements::ScheduledPlan {
        plan: Some("professional".into()),
        price: PRO.into(),
        at: UnixTime::from_secs(scheduled.at).to_rfc3339(),
    };
    assert_eq!(e.scheduled_change.as_ref(), Some(&expected));
    assert_eq!(
        app.clerk_billing()["scheduledChange"]["plan"],
        "professional"
    );

    app.stripe_client
        .release_schedule(&schedule, &unique_id("release-"))
        .await
        .unwrap();
    assert!(app.process(&[changed(now - 30)]).await.is_empty());
    assert_eq!(app.entitlements().await.scheduled_change, None);
    assert_eq!(
        app.clerk_billing()["scheduledChange"],
        serde_json::Value::Null
    );
}
