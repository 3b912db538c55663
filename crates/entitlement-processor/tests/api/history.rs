//! Entitlement history against the local AWS: a customer's life — checkout, add-on, failed payment, grace,
//! payment, cancel at period end, ended — each event delivered twice, read back at every instant between
//! them (one query each); versions neither duplicated nor lost, each with its provenance, reasons and an
//! explanation whose terms sum to its limits; the TTL attribute set for the retention.
use crate::helpers::{TestApp, ADDON, STARTER};
use entitle_domain::entitlements::history::{Term, Version};
use entitle_domain::entitlements::Status;
use entitle_domain::plans::Limit;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::EntitlementHistory;
use entitle_domain::time::UnixTime;
use entitle_test_support::fixtures::unique_id;
use entitlement_processor::handler::handle_at;
use serde_json::json;
use std::sync::Arc;

/// Runs the processor on `body` at the instant `at` (twice: a redelivery).
async fn deliver_at(app: &TestApp, body: &str, at: i64) {
    for _ in 0..2 {
        let records =
            json!({"Records": [{"messageId": "m0", "body": body, "eventSource": "aws:sqs"}]});
        let reply = handle_at(&app.deps, records, UnixTime::from_secs(at))
            .await
            .unwrap();
        assert_eq!(reply["batchItemFailures"], json!([]), "{body}");
    }
}

fn sum(terms: &[Term]) -> Limit {
    terms
        .iter()
        .fold(Limit::Finite(0), |acc, t| match (acc, t.per_unit) {
            (Limit::Finite(a), Limit::Finite(b)) => Limit::Finite(a + b * t.quantity),
            _ => Limit::Unlimited,
        })
}

#[tokio::test]
async fn a_customers_life_reads_back_at_every_instant_with_its_provenance() {
    let app = TestApp::spawn().await;
    let sub = unique_id("sub_");
    let t0 = UnixTime::now().secs() - 10_000;
    let step = 600;
    // (Stripe's state, event type, expected plan, status, reasons)
    type Step = (
        Box<dyn Fn(&TestApp)>,
        &'static str,
        &'static str,
        Status,
        &'static [&'static str],
    );
    let s1 = sub.clone();
    let s2 = sub.clone();
    let s3 = sub.clone();
    let s4 = sub.clone();
    let s5 = sub.clone();
    let s6 = sub.clone();
    let life: Vec<Step> = vec![
        (
            Box::new(move |a| a.subscription(&s1, STARTER, "active", false)),
            "subscription.created",
            "starter",
            Status::Active,
            &["plan_changed"],
        ),
        (
            Box::new(move |a| {
                a.subscription_items(&s2, &[(STARTER, 1), (ADDON, 2)], "active", false)
            }),
            "subscription.updated",
            "starter",
            Status::Active,
            &["addon_added"],
        ),
        (
            Box::new(move |a| {
                a.subscription_items(&s3, &[(STARTER, 1), (ADDON, 2)], "past_due", false)
            }),
            "invoice.payment_failed",
            "starter",
            Status::PastDue,
            &["payment_failed", "grace_started"],
        ),
        (
            Box::new(move |a| {
                a.subscription_items(&s4, &[(STARTER, 1), (ADDON, 2)], "active", false)
            }),
            "invoice.paid",
            "starter",
            Status::Active,
            &["grace_ended"],
        ),
        (
            Box::new(move |a| {
                a.subscription_items(&s5, &[(STARTER, 1), (ADDON, 2)], "active", true)
            }),
            "subscription.updated",
            "starter",
            Status::Canceling,
            &["canceled"],
        ),
        (
            Box::new(move |a| a.subscription(&s6, STARTER, "canceled", false)),
            "subscription.canceled",
            "free",
            Status::Free,
            &["plan_changed", "addon_removed"],
        ),
    ];
    let mut events = Vec::new();
    for (i, (state, event_type, ..)) in life.iter().enumerate() {
        state(&app);
        let id = unique_id("evt_");
        let at = t0 + step * i as i64;
        let body = app.event(
            &id,
            event_type,
            at,
            json!({"subscriptionId": sub, "invoiceId": format!("in_{i}")}),
        );
        deliver_at(&app, &body, at).await;
        events.push((id, *event_type));
    }

    let store = app.store.as_ref();
    // Before the first event: nothing yet (the free plan).
    assert!(store
        .version_at(&app.user, UnixTime::from_secs(t0 - 1))
        .await
        .unwrap()
        .is_none());
    for (i, (_, _, plan, status, _)) in life.iter().enumerate() {
        for offset in [0, step / 2, step - 1] {
            let at = UnixTime::from_secs(t0 + step * i as i64 + offset);
            let v = store.version_at(&app.user, at).await.unwrap().unwrap();
            assert_eq!(v.version, i as u64 + 1, "at step {i} + {offset}s");
            assert_eq!(
                (v.entitlements.plan.as_str(), v.entitlements.status),
                (*plan, *status)
            );
        }
    }

    // Redelivered events appended nothing: exactly one version per step, chained.
    let all: Vec<Version> = store
        .versions(
            &app.user,
            UnixTime::from_secs(0),
            UnixTime::from_secs(t0 + step * 10),
            100,
        )
        .await
        .unwrap();
    assert_eq!(all.len(), life.len());
    for (i, v) in all.iter().enumerate() {
        let (_, _, _, _, reasons) = &life[i];
        assert_eq!(v.version, i as u64 + 1);
        assert_eq!(v.provenance.previous_version, (i > 0).then_some(i as u64));
        let cause = v.provenance.cause.as_ref().unwrap();
        assert_eq!(
            (cause.event_id.as_str(), cause.event_type.as_str()),
            (events[i].0.as_str(), events[i].1)
        );
        assert_eq!(cause.subscription_id.as_deref(), Some(sub.as_str()));
        assert_eq!(&v.provenance.reasons, reasons, "version {}", v.version);
        assert!(v.provenance.catalog.starts_with("cat_"));
        // Explain's terms sum to every limit of the version.
        for (name, value) in &v.entitlements.limits {
            assert_eq!(
                sum(&v.provenance.explain.limits[name].terms),
                *value,
                "v{} {name}",
                v.version
            );
        }
    }
    // The add-on's version says where its 13 agents come from, and which items it was computed from.
    let with_pack = &all[1];
    // Each term names the subscription, the item (si_…) and the price's lookup key that grant it.
    let item = |plan: &str| {
        with_pack
            .provenance
            .items
            .iter()
            .find(|i| i.plan.as_deref() == Some(plan))
            .and_then(|i| i.item_id.clone())
            .unwrap()
    };
    let (base_item, pack_item) = (item("starter"), item("team_pack"));
    assert!(base_item.starts_with("si_") && pack_item.starts_with("si_"));
    assert_ne!(base_item, pack_item);
    assert_eq!(
        with_pack.provenance.explain.limits["agents"].text,
        format!(
            "agents 13 = starter 3 ({sub}, {base_item}, starter_monthly) + team_pack 5 × 2 ({sub}, \
             {pack_item}, team_pack_monthly)"
        )
    );
    let sold: Vec<_> = with_pack
        .provenance
        .items
        .iter()
        .map(|i| (i.plan.as_deref(), i.addon, i.quantity))
        .collect();
    assert_eq!(
        sold,
        [(Some("starter"), false, 1), (Some("team_pack"), true, 2)]
    );
    // The grace of the failed payment is in its version's provenance.
    let grace = all[2].provenance.grace.as_ref().unwrap();
    assert!(grace.since.is_some() && grace.until.is_some());
    assert!(all[2]
        .provenance
        .changes
        .iter()
        .any(|c| c.field == "status"));

    // Each history item expires after the retention (DynamoDB's TTL removes it): 400 days by default.
    let items = aws_sdk_dynamodb::Client::new(&entitle_test_support::aws::sdk_config().await)
        .query()
        .table_name(entitle_test_support::aws::env("ENTITLEMENTS_TABLE"))
        .key_condition_expression("userId = :u AND begins_with(#e, :h)")
        .expression_attribute_names("#e", "entry")
        .expression_attribute_values(
            ":u",
            aws_sdk_dynamodb::types::AttributeValue::S(app.user.to_string()),
        )
        .expression_attribute_values(
            ":h",
            aws_sdk_dynamodb::types::AttributeValue::S("h#".into()),
        )
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert_eq!(items.len(), life.len());
    for (item, v) in items.iter().zip(&all) {
        let expires: i64 = item["expiresAt"].as_n().unwrap().parse().unwrap();
        let applied = UnixTime::parse_rfc3339(&v.applied_at).unwrap().secs();
        assert_eq!(expires - applied, 400 * 86_400);
    }
}

#[tokio::test]
async fn a_redelivered_and_reordered_life_appends_no_duplicate_version() {
    let app = TestApp::spawn().await;
    let sub = unique_id("sub_");
    app.subscription_items(&sub, &[(STARTER, 1), (ADDON, 1)], "active", false);
    let now = UnixTime::now().secs();
    let bodies: Vec<String> = [
        "subscription.created",
        "invoice.paid",
        "subscription.updated",
    ]
    .iter()
    .enumerate()
    .map(|(i, t)| {
        app.event(
            &unique_id("evt_"),
            t,
            now - 30 + i as i64,
            json!({"subscriptionId": sub, "invoiceId": "in_1"}),
        )
    })
    .collect();
    // Newest first, each three times: Stripe's state is the same every time, so one version.
    for body in bodies.iter().rev() {
        for _ in 0..3 {
            assert!(app.process(std::slice::from_ref(body)).await.is_empty());
        }
    }
    let all = app
        .store
        .versions(
            &app.user,
            UnixTime::from_secs(0),
            UnixTime::from_secs(now + 60),
            100,
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0].entitlements.limits["agents"], Limit::Finite(8));
}

/// The built-in catalog with the starter plan's agents raised from 3 to `agents` (a deploy of a new catalog).
fn starter_with_agents(agents: u32) -> PlanCatalog {
    let text = include_str!("../../../../config/plans.toml");
    let starter = text.find("id = \"starter\"").unwrap();
    let at = starter + text[starter..].find("agents = 3").unwrap();
    let changed = format!(
        "{}agents = {agents}{}",
        &text[..at],
        &text[at + "agents = 3".len()..]
    );
    PlanCatalog::parse(&changed).unwrap()
}

#[tokio::test]
async fn a_catalog_change_is_a_version_of_its_own_with_both_catalog_versions() {
    let mut app = TestApp::spawn().await;
    let sub = unique_id("sub_");
    app.subscription(&sub, STARTER, "active", false);
    let t0 = UnixTime::now().secs() - 1_000;
    let created = app.event(
        &unique_id("evt_"),
        "subscription.created",
        t0,
        json!({"subscriptionId": sub}),
    );
    deliver_at(&app, &created, t0).await;

    // A deploy raises the starter plan's agents: the next write recomputes under the new catalog.
    let before = app
        .store
        .version_at(&app.user, UnixTime::from_secs(t0))
        .await
        .unwrap()
        .unwrap();
    Arc::get_mut(&mut app.deps)
        .expect("only the test holds the deps")
        .catalog = starter_with_agents(4);
    let paid = app.event(
        &unique_id("evt_"),
        "invoice.paid",
        t0 + 60,
        json!({"subscriptionId": sub, "invoiceId": "in_1"}),
    );
    deliver_at(&app, &paid, t0 + 60).await;

    let after = app
        .store
        .version_at(&app.user, UnixTime::from_secs(t0 + 60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.version, 2);
    assert_eq!(after.provenance.reasons, ["catalog_changed"]);
    assert_eq!(
        after.provenance.previous_catalog.as_deref(),
        Some(before.provenance.catalog.as_str())
    );
    assert_ne!(after.provenance.catalog, before.provenance.catalog);
    assert_eq!(after.entitlements.limits["agents"], Limit::Finite(4));
    let agents = after
        .provenance
        .changes
        .iter()
        .find(|c| c.field == "limits.agents")
        .unwrap();
    assert_eq!((&agents.from, &agents.to), (&json!(3), &json!(4)));

    // Another event under the same catalog: no catalog change is claimed again, and nothing is appended
    // for a state that did not change.
    let again = app.event(
        &unique_id("evt_"),
        "invoice.paid",
        t0 + 120,
        json!({"subscriptionId": sub, "invoiceId": "in_2"}),
    );
    deliver_at(&app, &again, t0 + 120).await;
    let all = app
        .store
        .versions(
            &app.user,
            UnixTime::from_secs(0),
            UnixTime::from_secs(t0 + 600),
            10,
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 2, "{all:#?}");
}

#[tokio::test]
async fn a_subscription_on_a_grandfathered_price_explains_itself_as_such() {
    let app = TestApp::spawn().await;
    // An archived starter price whose lookup key moved on: only its catalog mark keeps it on starter.
    app.stripe.seed_price(
        json!({"id": "price_starter_2023", "lookup_key": null, "unit_amount": 2900,
        "currency": "usd", "recurring": {"interval": "month"}, "product": "prod_entitle",
        "active": false, "metadata": {"entitle": "starter"}}),
    );
    let sub = unique_id("sub_");
    app.subscription(&sub, "price_starter_2023", "active", false);
    let now = UnixTime::now().secs();
    let body = app.event(
        &unique_id("evt_"),
        "subscription.created",
        now,
        json!({"subscriptionId": sub}),
    );
    deliver_at(&app, &body, now).await;

    let v = app
        .store
        .version_at(&app.user, UnixTime::from_secs(now))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.entitlements.plan, "starter");
    let item = &v.provenance.items[0];
    assert!(item.grandfathered, "{item:?}");
    assert_eq!(item.price, "price_starter_2023");
    let agents = &v.provenance.explain.limits["agents"];
    assert!(agents.terms[0].grandfathered);
    let si = item.item_id.clone().unwrap();
    assert_eq!(
        agents.text,
        format!("agents 3 = starter 3 ({sub}, {si}, price_starter_2023 grandfathered)")
    );
    // A price the catalog sells is not grandfathered.
    let current = app
        .stripe
        .seed_subscription(json!({"id": unique_id("sub_"), "customer": "cus_other",
        "price": STARTER, "quantity": 1, "status": "active"}));
    assert!(current["items"]["data"][0]["id"]
        .as_str()
        .unwrap()
        .starts_with("si_"));
}
