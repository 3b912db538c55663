use crate::helpers::TestApp;
use entitle_domain::ids::SubjectId;
use entitle_domain::ports::CustomerDirectory;
use entitle_test_support::fixtures::unique_id;

#[tokio::test]
async fn sign_up_creates_a_customer_with_the_profile_links_it_and_announces_both_events() {
    let app = TestApp::spawn().await;
    let message = unique_id("msg_");
    let reply = app.deliver(&message, &app.event("user.created")).await;
    assert_eq!(
        (reply.status, reply.body),
        (200, serde_json::json!({"received": true}))
    );

    let customers = app.stripe_customers();
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0]["email"], "ada@example.com");
    assert_eq!(customers[0]["name"], "Ada Lovelace");
    let customer_id = customers[0]["id"].as_str().unwrap();
    let create = app
        .stripe
        .requests()
        .into_iter()
        .find(|r| r["method"] == "POST" && r["path"] == "/v1/customers")
        .unwrap();
    assert!(create["idempotencyKey"]
        .as_str()
        .unwrap()
        .contains(&app.user_id));

    let user = SubjectId::parse(app.user_id.as_str()).unwrap();
    let link = app.customers.get(&user).await.unwrap().unwrap();
    assert_eq!(link.customer.unwrap().as_str(), customer_id);

    let published = app.tap.messages().await;
    let with_id = |id: &str| {
        published
            .iter()
            .filter(|m| entitle_test_support::aws::body_id(m).as_deref() == Some(id))
            .collect::<Vec<_>>()
    };
    let created = with_id(&message);
    assert_eq!(created.len(), 1);
    let event: serde_json::Value = serde_json::from_str(created[0].body().unwrap()).unwrap();
    assert_eq!(
        (event["type"].as_str(), event["source"].as_str()),
        (Some("user.created"), Some("clerk"))
    );
    assert_eq!(event["userId"], app.user_id.as_str());
    assert_eq!(event["data"]["email"], "ada@example.com");
    let linked = with_id(&format!("{message}-linked"));
    assert_eq!(linked.len(), 1);
    let event: serde_json::Value = serde_json::from_str(linked[0].body().unwrap()).unwrap();
    assert_eq!(event["type"], "customer.linked");
    assert_eq!(event["stripeCustomerId"], customer_id);
}

#[tokio::test]
async fn an_update_with_nothing_new_makes_no_stripe_call() {
    let app = TestApp::spawn().await;
    app.deliver(&unique_id("msg_"), &app.event("user.updated"))
        .await;
    let posts = |app: &TestApp| {
        app.stripe
            .requests()
            .iter()
            .filter(|r| {
                r["method"] == "POST" && r["path"].as_str().unwrap().starts_with("/v1/customers/")
            })
            .count()
    };
    assert_eq!(
        posts(&app),
        1,
        "the out-of-order update created the customer and set its profile"
    );
    assert_eq!(
        app.deliver(&unique_id("msg_"), &app.event("user.updated"))
            .await
            .status,
        200
    );
    assert_eq!(posts(&app), 1);
    assert_eq!(app.stripe_customers()[0]["email"], "ada.old@example.com");
    // Both updates are still announced (the first also links the customer it created).
    let types: Vec<String> = app
        .tap
        .messages()
        .await
        .iter()
        .filter_map(|m| serde_json::from_str::<serde_json::Value>(m.body()?).ok())
        .filter(|e| e["userId"] == app.user_id.as_str())
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        types.iter().filter(|t| *t == "user.updated").count(),
        2,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| *t == "customer.linked").count(),
        1,
        "{types:?}"
    );
}

#[tokio::test]
async fn deleting_a_user_keeps_the_customer_and_cancels_its_subscription_at_period_end() {
    let app = TestApp::spawn().await;
    app.deliver(&unique_id("msg_"), &app.event("user.created"))
        .await;
    let customer = app.stripe_customers()[0]["id"].as_str().unwrap().to_owned();
    let price = unique_id("price_");
    app.stripe.seed_price(serde_json::json!({
        "id": price, "lookup_key": unique_id("starter_"), "unit_amount": 4900, "currency": "usd",
        "recurring": {"interval": "month"}, "product": "prod_starter"
    }));
    let subscription = app.stripe.seed_subscription(serde_json::json!({
        "customer": customer, "price": price, "quantity": 1, "status": "active"
    }));

    let message = unique_id("msg_");
    assert_eq!(
        app.deliver(&message, &app.event("user.deleted"))
            .await
            .status,
        200
    );

    let cancel = app
        .stripe
        .requests()
        .into_iter()
        .find(|r| {
            r["method"] == "POST"
                && r["path"]
                    == format!("/v1/subscriptions/{}", subscription["id"].as_str().unwrap())
        })
        .expect("the subscription was updated");
    assert_eq!(cancel["params"]["cancel_at_period_end"], "true");
    let user = SubjectId::parse(app.user_id.as_str()).unwrap();
    let link = app.customers.get(&user).await.unwrap().unwrap();
    assert!(link.deleted);
    assert_eq!(link.customer.unwrap().as_str(), customer);
    assert_eq!(app.stripe_customers().len(), 1, "billing history stays");
    let deleted = app.tap.messages_for(&message).await;
    assert_eq!(deleted.len(), 1);
    assert!(deleted[0].body().unwrap().contains("\"user.deleted\""));

    // A late sign-up event does not bring the customer back to life.
    assert_eq!(
        app.deliver(&unique_id("msg_"), &app.event("user.created"))
            .await
            .status,
        200
    );
    assert_eq!(app.stripe_customers().len(), 1);
}

#[tokio::test]
async fn deleting_a_user_with_a_scheduled_change_releases_it_and_stops_the_plan_and_the_addon() {
    let app = TestApp::spawn().await;
    app.deliver(&unique_id("msg_"), &app.event("user.created"))
        .await;
    let customer = app.stripe_customers()[0]["id"].as_str().unwrap().to_owned();
    let (plan, pack) = (unique_id("price_"), unique_id("price_"));
    for (price, amount) in [(&plan, 4900), (&pack, 2900)] {
        app.stripe.seed_price(serde_json::json!({
            "id": price, "lookup_key": unique_id("key_"), "unit_amount": amount, "currency": "usd",
            "recurring": {"interval": "month"}, "product": "prod_entitle"
        }));
    }
    let end = entitle_domain::time::UnixTime::now().secs() + 10 * 86_400;
    let seed = |price: &str| {
        app.stripe.seed_subscription(serde_json::json!({
            "customer": customer, "price": price, "quantity": 1, "status": "active",
            "current_period_end": end, "current_period_start": end - 30 * 86_400
        }))
    };
    let (plan_sub, pack_sub) = (seed(&plan), seed(&pack));
    let plan_id = plan_sub["id"].as_str().unwrap();
    // A change at the period end is scheduled, as billing-api makes it: Stripe now refuses a direct cancel.
    use entitle_domain::ports::{PeriodEndChange, PhaseItem, SubscriptionLifecycle};
    let phase = |price: &str| {
        vec![PhaseItem {
            price: price.to_owned(),
            quantity: Some(1),
        }]
    };
    app.stripe_client
        .schedule_plan_change(
            &PeriodEndChange {
                subscription: plan_id,
                schedule: None,
                current: phase(&plan),
                next: phase(&pack),
            },
            &unique_id("schedule-"),
        )
        .await
        .unwrap();
    let refused = app
        .stripe_client
        .set_cancel_at_period_end(plan_id, true, 1, &unique_id("direct-"))
        .await;
    assert!(
        refused.is_err(),
        "the local Stripe refuses it as Stripe does"
    );

    let message = unique_id("msg_");
    let reply = app.deliver(&message, &app.event("user.deleted")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    for id in [plan_id, pack_sub["id"].as_str().unwrap()] {
        let now = app.stripe_client.subscription(id).await.unwrap().unwrap();
        assert!(now.cancel_at_period_end, "{id} stops at its period end");
        assert_eq!(now.schedule, None, "{id} has no schedule left");
    }
    // A redelivery makes no second write.
    let writes = |app: &TestApp| {
        app.stripe
            .requests()
            .into_iter()
            .filter(|r| r["method"] != "GET")
            .count()
    };
    let before = writes(&app);
    assert_eq!(
        app.deliver(&message, &app.event("user.deleted"))
            .await
            .status,
        200
    );
    assert_eq!(writes(&app), before);
}
