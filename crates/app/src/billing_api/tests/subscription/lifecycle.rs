//! `POST /subscription/cancel` and `/subscription/resume`, and whose subscription they act on.
use crate::billing_api::tests::{
    call_at, code, harness, post, subscribed, token, NOW, PERIOD_END, PRO, USER,
};
use entitle_domain::entitlements::{Entitlements, Status};
use entitle_domain::ids::SubjectId;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::ItemDetails;
use entitle_domain::time::UnixTime;
use serde_json::json;

#[tokio::test]
async fn a_subscription_on_a_grandfathered_price_answers_its_plan_through_the_prices_catalog_mark()
{
    use entitle_domain::ports::SubscriptionDetails;
    let h = harness();
    subscribed(&h).await;
    // The starter price after a catalog price change: archived, its lookup key moved to the new price.
    h.stripe.add_plan_subscription(SubscriptionDetails {
        items: vec![ItemDetails {
            catalog_id: Some("starter".into()),
            ..ItemDetails::licensed("si_life1", "price_1OldStarterArchived", None, 1)
        }],
        ..h.stripe.plan_subscription("sub_life1").unwrap()
    });
    let (status, body) = post(&h, "/subscription/cancel", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["plan"], "starter");
}

#[tokio::test]
async fn cancel_at_period_end_is_the_default_and_answers_the_canceling_state() {
    let h = harness();
    let id = subscribed(&h).await;
    let (status, body) = post(&h, "/subscription/cancel", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["subscriptionId"], id.as_str());
    assert_eq!(body["plan"], "starter");
    assert_eq!(body["status"], "canceling");
    assert_eq!(body["stripeStatus"], "active");
    assert_eq!(body["cancelAtPeriodEnd"], true);
    assert_eq!(
        body["periodEnd"],
        UnixTime::from_secs(PERIOD_END).to_rfc3339()
    );
    assert!(
        h.stripe
            .plan_subscription(&id)
            .unwrap()
            .cancel_at_period_end
    );
}

#[tokio::test]
async fn cancelling_a_canceling_subscription_answers_the_same_state_without_a_second_write() {
    let h = harness();
    subscribed(&h).await;
    let (_, first) = post(
        &h,
        "/subscription/cancel",
        Some(json!({"atPeriodEnd": true})),
    )
    .await;
    let (status, second) = post(&h, "/subscription/cancel", Some(json!({}))).await;
    assert_eq!((status, &second), (200, &first));
    let writes = h
        .stripe
        .calls()
        .iter()
        .filter(|c| c.starts_with("set_cancel_at_period_end"))
        .count();
    assert_eq!(writes, 1);
}

#[tokio::test]
async fn cancel_now_passes_prorate_and_invoice_now_and_answers_the_free_plan() {
    let h = harness();
    let id = subscribed(&h).await;
    let (status, body) = post(
        &h,
        "/subscription/cancel",
        Some(json!({"atPeriodEnd": false, "prorate": true, "invoiceNow": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["plan"], "free");
    assert_eq!(body["status"], "free");
    assert_eq!(body["stripeStatus"], "canceled");
    assert!(h
        .stripe
        .calls()
        .iter()
        .any(|c| c.starts_with(&format!("cancel_now {id} prorate=true invoice_now=true"))));
    // A retry of an immediate cancel is answered, not refused.
    let (again, _) = post(
        &h,
        "/subscription/cancel",
        Some(json!({"atPeriodEnd": false})),
    )
    .await;
    assert_eq!(again, 200);
}

#[tokio::test]
async fn prorate_options_with_a_cancel_at_period_end_are_a_400() {
    let h = harness();
    subscribed(&h).await;
    let (status, body) = post(&h, "/subscription/cancel", Some(json!({"prorate": true}))).await;
    assert_eq!((status, code(&body)), (400, "invalid_option"));
    let (status, body) = post(
        &h,
        "/subscription/cancel",
        Some(json!({"atPeriodEnd": "soon"})),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "malformed_body"));
}

#[tokio::test]
async fn resume_undoes_a_cancel_at_period_end() {
    let h = harness();
    let id = subscribed(&h).await;
    post(&h, "/subscription/cancel", None).await;
    let (status, body) = post(&h, "/subscription/resume", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "active");
    assert_eq!(body["cancelAtPeriodEnd"], false);
    assert!(
        !h.stripe
            .plan_subscription(&id)
            .unwrap()
            .cancel_at_period_end
    );
    // And a cancel after the resume (a second later: within one second, repeats are one Stripe write) is a
    // real cancel again, not a replay of the first.
    let (_, canceled) = call_at(
        &h,
        "POST",
        "/subscription/cancel",
        None,
        Some(&token()),
        NOW + 1,
    )
    .await;
    assert_eq!(canceled["status"], "canceling");
    assert!(
        h.stripe
            .plan_subscription(&id)
            .unwrap()
            .cancel_at_period_end
    );
}

#[tokio::test]
async fn an_ended_subscription_cannot_be_resumed_or_changed() {
    let h = harness();
    subscribed(&h).await;
    post(
        &h,
        "/subscription/cancel",
        Some(json!({"atPeriodEnd": false})),
    )
    .await;
    let (status, body) = post(&h, "/subscription/resume", None).await;
    assert_eq!((status, code(&body)), (409, "subscription_ended"));
    let (status, body) = post(
        &h,
        "/subscription/change",
        Some(json!({"price": "pro_monthly"})),
    )
    .await;
    assert_eq!((status, code(&body)), (409, "subscription_ended"));
}

#[tokio::test]
async fn the_subscription_routes_answer_404_without_a_subscription_and_403_for_a_deleted_user() {
    let h = harness();
    for path in ["/subscription/cancel", "/subscription/resume"] {
        let (status, body) = post(&h, path, None).await;
        assert_eq!((status, code(&body)), (404, "no_subscription"), "{path}");
    }
    let (status, body) = post(
        &h,
        "/subscription/change",
        Some(json!({"price": "pro_monthly"})),
    )
    .await;
    assert_eq!((status, code(&body)), (404, "no_subscription"));
    subscribed(&h).await;
    h.deps
        .customers
        .mark_deleted(&SubjectId::parse(USER).unwrap(), UnixTime::from_secs(NOW))
        .await
        .unwrap();
    let (status, body) = post(&h, "/subscription/cancel", None).await;
    assert_eq!((status, code(&body)), (403, "user_deleted"));
}

#[tokio::test]
async fn a_subscription_of_someone_else_named_in_the_entitlements_is_not_acted_on() {
    use entitle_domain::ports::SubscriptionDetails;
    let h = harness();
    subscribed(&h).await;
    h.stripe.add_plan_subscription(SubscriptionDetails {
        id: "sub_other".into(),
        customer: "cus_other".into(),
        status: "active".into(),
        items: vec![ItemDetails::licensed(
            "si_other",
            PRO,
            Some("pro_monthly"),
            1,
        )],
        writes: 0,
        cancel_at_period_end: false,
        current_period_end: Some(PERIOD_END),
        trial_end: None,
        user: Some("user_someone_else".into()),
        schedule: None,
    });
    let mut stored = Entitlements::on_plan(
        SubjectId::parse(USER).unwrap(),
        PlanCatalog::builtin().plan("professional").unwrap(),
        Status::Active,
    );
    stored.subscription_id = Some("sub_other".into());
    h.entitlements.put(stored);
    let (status, body) = post(&h, "/subscription/cancel", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["subscriptionId"], "sub_life1");
    assert!(
        !h.stripe
            .plan_subscription("sub_other")
            .unwrap()
            .cancel_at_period_end
    );
}

#[tokio::test]
async fn stripe_down_is_a_503_and_stripe_refusing_is_a_502() {
    let h = harness();
    subscribed(&h).await;
    h.stripe.fail_next("set_cancel_at_period_end", true);
    let (status, body) = post(&h, "/subscription/cancel", None).await;
    assert_eq!((status, code(&body)), (503, "unavailable"));
    h.stripe.fail_next("change_plan", false);
    let (status, body) = post(
        &h,
        "/subscription/change",
        Some(json!({"price": "pro_monthly"})),
    )
    .await;
    assert_eq!((status, code(&body)), (502, "payment_provider_error"));
    assert!(
        !body.to_string().contains("injected"),
        "Stripe's message stays out of the answer"
    );
}

#[tokio::test]
async fn an_addon_subscription_is_never_taken_for_the_users_subscription() {
    use entitle_domain::ports::SubscriptionDetails;
    let h = harness();
    subscribed(&h).await;
    // The plan ended; the add-on bought beside it lives on (newer).
    let mut ended = h.stripe.plan_subscription("sub_life1").unwrap();
    ended.status = "canceled".into();
    h.stripe.add_plan_subscription(ended);
    h.stripe.add_plan_subscription(SubscriptionDetails {
        id: "sub_addon1".into(),
        customer: "cus_life1".into(),
        status: "active".into(),
        items: vec![ItemDetails::licensed(
            "si_addon1",
            "price_team_pack",
            Some("team_pack_monthly"),
            1,
        )],
        writes: 0,
        cancel_at_period_end: false,
        current_period_end: Some(PERIOD_END),
        trial_end: None,
        user: Some(USER.into()),
        schedule: None,
    });
    h.entitlements.put(Entitlements::free(
        SubjectId::parse(USER).unwrap(),
        PlanCatalog::builtin(),
    ));
    let (status, body) = post(&h, "/subscription/resume", None).await;
    assert_eq!((status, code(&body)), (409, "subscription_ended"));
    // Cancel answers the ended plan subscription's state; with keepAddons the add-on is left alone.
    let (status, body) = post(
        &h,
        "/subscription/cancel",
        Some(json!({"keepAddons": true})),
    )
    .await;
    assert_eq!(
        (status, body["subscriptionId"].as_str()),
        (200, Some("sub_life1")),
        "{body}"
    );
    assert!(
        !h.stripe
            .plan_subscription("sub_addon1")
            .unwrap()
            .cancel_at_period_end
    );
    // Without it, the add-on subscription stops with the plan and the answer lists it.
    let (status, body) = post(&h, "/subscription/cancel", None).await;
    assert_eq!(
        (status, body["subscriptionId"].as_str()),
        (200, Some("sub_life1")),
        "{body}"
    );
    assert!(
        h.stripe
            .plan_subscription("sub_addon1")
            .unwrap()
            .cancel_at_period_end
    );
    assert_eq!(body["canceled"][1]["plan"], "team_pack", "{body}");
    assert_eq!(body["canceled"][1]["addon"], true, "{body}");
}
