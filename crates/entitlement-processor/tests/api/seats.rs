//! An organization's seats on the real parts: membership events through the processor's handler, the count
//! read from the local Clerk through the production client, stored in the usage table of the local AWS, and
//! `seats.changed` on the real topic.
use crate::helpers::{process, TestApp};
use entitle_domain::ids::SubjectId;
use entitle_domain::ports::usage::{CounterKey, UsageStore};
use entitle_domain::time::UnixTime;
use entitle_test_support::fixtures::unique_id;
use serde_json::{json, Value};

fn members_changed(org: &str, id: &str, clerk_event: &str) -> String {
    json!({
        "schemaVersion": 1, "id": id, "source": "clerk", "type": "organization.members_changed",
        "occurredAt": UnixTime::now().to_rfc3339(), "userId": org, "data": {"clerkEvent": clerk_event}
    })
    .to_string()
}

async fn stored_seats(app: &TestApp, org: &str) -> (i64, i64) {
    let key = CounterKey {
        user: SubjectId::parse(org).unwrap(),
        name: "seats".into(),
        expires_at: None,
    };
    app.usage.counted(&key).await.unwrap()
}

#[tokio::test]
async fn shuffled_and_repeated_membership_events_end_on_clerks_true_count_announced_once_per_change(
) {
    let app = TestApp::spawn().await;
    let org = unique_id("org_");
    app.clerk.create_organization(&org, "Acme");
    let members: Vec<String> = (0..13).map(|_| unique_id("user_")).collect();
    for user in &members {
        app.clerk.create_user(user);
        app.clerk.add_member(&org, user, "org:member");
    }
    // Thirteen joins delivered as a shuffled batch with duplicates: each one only prompts a recount.
    let mut bodies: Vec<String> = (0..13)
        .rev()
        .map(|n| {
            members_changed(
                &org,
                &format!("msg_join{n}"),
                "organizationMembership.created",
            )
        })
        .collect();
    bodies.extend(bodies.clone());
    assert!(app.process(&bodies).await.is_empty());
    // More than a page of Clerk's default list (10): the total count, not a page of it.
    assert_eq!(stored_seats(&app, &org).await.0, 13);

    app.clerk.remove_member(&org, &members[4]);
    app.clerk.remove_member(&org, &members[7]);
    let leave = members_changed(&org, "msg_leave", "organizationMembership.deleted");
    assert!(app.process(&[leave.clone(), leave]).await.is_empty());
    let (seats, version) = stored_seats(&app, &org).await;
    assert_eq!(seats, 11);

    let announced: Vec<Value> = app
        .tap
        .messages()
        .await
        .into_iter()
        .filter_map(|m| serde_json::from_str::<Value>(m.body()?).ok())
        .filter(|e| e["type"] == "seats.changed" && e["userId"] == org.as_str())
        .collect();
    let changes: Vec<(u64, u64)> = announced
        .iter()
        .map(|e| {
            (
                e["data"]["previous"].as_u64().unwrap(),
                e["data"]["seats"].as_u64().unwrap(),
            )
        })
        .collect();
    // 0 → 13 once, 13 → 11 once: the count's two versions, each announced once.
    assert_eq!(changes, vec![(0, 13), (13, 11)]);
    // Each names the organization as its subject, typed.
    assert!(announced
        .iter()
        .all(|e| e["subject"] == serde_json::json!({"type": "organization", "id": org.as_str()})));
    assert_eq!(version, 2);
}

#[tokio::test]
async fn clerk_failing_makes_the_prompt_retry_and_the_retry_counts() {
    let app = TestApp::spawn().await;
    let org = unique_id("org_");
    app.clerk.create_organization(&org, "Acme");
    let user = unique_id("user_");
    app.clerk.create_user(&user);
    app.clerk.add_member(&org, &user, "org:admin");
    app.clerk.fail_next(1, 503, "/v1/organizations");
    let prompt = members_changed(&org, "msg_retry", "organizationMembership.created");
    assert_eq!(
        app.process(std::slice::from_ref(&prompt)).await,
        vec!["m0".to_string()]
    );
    assert_eq!(stored_seats(&app, &org).await, (0, 0));
    assert!(process(&app.deps, &[prompt]).await.is_empty());
    assert_eq!(stored_seats(&app, &org).await, (1, 1));
}

/// The seat tests' catalog (a seat plan and one without seats), shared with the other seat tests.
const TEAM_CATALOG: &str = include_str!("../../../../fixtures/catalog/team.toml");

#[tokio::test]
async fn the_stripe_seat_quantity_follows_the_members_through_the_production_client() {
    use entitle_domain::plans::PlanCatalog;
    use entitle_domain::ports::{EntitlementStore, StripeCustomers};
    let app = TestApp::spawn_with(PlanCatalog::parse(TEAM_CATALOG).unwrap()).await;
    for (id, key, amount) in [
        ("price_team_monthly", "team_monthly", 4900),
        ("price_team_seat_monthly", "team_seat_monthly", 1500),
    ] {
        app.stripe.seed_price(
            json!({"id": id, "lookup_key": key, "unit_amount": amount, "currency": "usd",
            "recurring": {"interval": "month"}, "product": "prod_team"}),
        );
    }
    let org = unique_id("org_");
    let subject = SubjectId::parse(org.as_str()).unwrap();
    app.clerk.create_organization(&org, "Acme");
    let customer = app
        .stripe_client
        .create_customer(&subject, &unique_id("create-"))
        .await
        .unwrap();
    let subscription = unique_id("sub_");
    app.stripe.seed_subscription(json!({
        "id": subscription, "customer": customer.as_str(), "price": "price_team_monthly", "quantity": 1,
        "status": "active", "metadata": {"orgId": org}
    }));
    let mut entitlements = entitle_domain::entitlements::Entitlements::on_plan(
        subject.clone(),
        app.deps.catalog.plan("team").unwrap(),
        entitle_domain::entitlements::Status::Active,
    );
    entitlements.subscription_id = Some(subscription.clone());
    app.store
        .save(&entitlements, None, None, None)
        .await
        .unwrap();
    let seat_quantity = |app: &TestApp| {
        let (deps, subscription) = (app.deps.clone(), subscription.clone());
        async move {
            deps.lifecycle
                .subscription(&subscription)
                .await
                .unwrap()
                .unwrap()
                .items
                .into_iter()
                .find(|i| i.price_id == "price_team_seat_monthly")
                .map(|i| i.quantity)
        }
    };
    let members: Vec<String> = (0..6).map(|_| unique_id("user_")).collect();
    for user in &members {
        app.clerk.create_user(user);
        app.clerk.add_member(&org, user, "org:member");
    }
    // Six members: the seat item is added with three seats, a redelivery writes nothing more.
    let prompt = members_changed(&org, "msg_seats1", "organizationMembership.created");
    assert!(app.process(&[prompt.clone(), prompt]).await.is_empty());
    assert_eq!(seat_quantity(&app).await, Some(3));
    // Two leave: the same item set to one.
    app.clerk.remove_member(&org, &members[0]);
    app.clerk.remove_member(&org, &members[1]);
    let prompt = members_changed(&org, "msg_seats2", "organizationMembership.deleted");
    assert!(app.process(&[prompt]).await.is_empty());
    assert_eq!(seat_quantity(&app).await, Some(1));
    let writes: Vec<Value> = app
        .stripe
        .requests()
        .into_iter()
        .filter(|r| {
            r["method"] == "POST" && r["path"] == format!("/v1/subscriptions/{subscription}")
        })
        .collect();
    // One Stripe write per count version: +3 (invoiced now), then 3 → 1 (no credit).
    assert_eq!(writes.len(), 2, "{writes:#?}");
    assert_eq!(writes[0]["params"]["proration_behavior"], "always_invoice");
    assert_eq!(writes[1]["params"]["proration_behavior"], "none");
    assert_ne!(writes[0]["idempotencyKey"], writes[1]["idempotencyKey"]);
}
