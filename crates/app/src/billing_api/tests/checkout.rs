//! `POST /checkout`: plans, credit packs, add-ons, trials and overage prices.
use super::{
    call, catalog_naming_prices_by_id, catalog_with_overage, checkout, code, harness, post,
    subscribed, token, NOW, STARTER, USER,
};
use entitle_domain::entitlements::{Entitlements, Status};
use entitle_domain::ids::SubjectId;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::time::UnixTime;
use serde_json::json;

#[tokio::test]
async fn a_catalog_price_named_by_id_is_checked_out_by_that_id_without_a_lookup() {
    let mut h = harness();
    h.deps.catalog = catalog_naming_prices_by_id();
    for reference in ["starter_monthly", STARTER] {
        let (status, body) = call(
            &h,
            "POST",
            "/checkout",
            Some(checkout(reference)),
            Some(&token()),
        )
        .await;
        assert_eq!(status, 200, "{reference}: {body}");
    }
    let sessions = h.stripe.checkouts();
    assert!(sessions.iter().all(|s| s.price_id == STARTER));
    assert!(!h
        .stripe
        .calls()
        .iter()
        .any(|c| c.starts_with("price_for_lookup_key")));
}

#[tokio::test]
async fn a_plan_checkout_is_a_subscription_session_on_the_users_own_customer() {
    let h = harness();
    let (status, body) = call(
        &h,
        "POST",
        "/checkout",
        Some(checkout("starter_monthly")),
        Some(&token()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["url"]
        .as_str()
        .unwrap()
        .starts_with("https://checkout.stripe.com/"));
    let sessions = h.stripe.checkouts();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].mode, "subscription");
    assert_eq!(sessions[0].price_id, "price_local_starter_monthly");
    assert_eq!(sessions[0].quantity, 1);
    assert_eq!(body["customerId"], sessions[0].customer.as_str());
    assert_eq!(body["sessionId"], sessions[0].id.as_str());
    let customers = h.stripe.customers();
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0].1.as_str(), USER);
}

#[tokio::test]
async fn a_repeated_checkout_submission_gets_the_same_session() {
    let h = harness();
    let first = call(
        &h,
        "POST",
        "/checkout",
        Some(checkout("starter_monthly")),
        Some(&token()),
    )
    .await
    .1;
    let second = call(
        &h,
        "POST",
        "/checkout",
        Some(checkout("starter_monthly")),
        Some(&token()),
    )
    .await
    .1;
    assert_eq!(first["sessionId"], second["sessionId"]);
    assert_eq!(h.stripe.checkouts().len(), 1);
}

#[tokio::test]
async fn a_credit_pack_checkout_is_a_payment_with_its_quantity_and_a_lookup_key_resolved_once() {
    let h = harness();
    let mut body = checkout("credits_1000");
    body["quantity"] = 3.into();
    let (status, _) = call(&h, "POST", "/checkout", Some(body.clone()), Some(&token())).await;
    assert_eq!(status, 200);
    body["quantity"] = 4.into();
    assert_eq!(
        call(&h, "POST", "/checkout", Some(body), Some(&token()))
            .await
            .0,
        200
    );
    let sessions = h.stripe.checkouts();
    assert_eq!(
        (
            sessions[0].mode,
            sessions[0].price_id.as_str(),
            sessions[0].quantity
        ),
        ("payment", "price_credits1000", 3)
    );
    let lookups = h
        .stripe
        .calls()
        .iter()
        .filter(|c| c.starts_with("price_for_lookup_key"))
        .count();
    assert_eq!(lookups, 1);
}

#[tokio::test]
async fn quantities_the_catalog_does_not_allow_are_400s() {
    let h = harness();
    for (price, quantity) in [
        ("starter_monthly", 2),
        ("credits_1000", 11),
        ("credits_1000", 0),
        ("credits_5000", 2),
    ] {
        let mut body = checkout(price);
        body["quantity"] = quantity.into();
        let (status, reply) = call(&h, "POST", "/checkout", Some(body), Some(&token())).await;
        assert_eq!(
            (status, code(&reply)),
            (400, "quantity_not_allowed"),
            "{price} x{quantity}"
        );
    }
    assert!(h.stripe.checkouts().is_empty());
}

#[tokio::test]
async fn unknown_prices_and_foreign_redirects_are_400s_that_touch_nothing() {
    let h = harness();
    let (status, reply) = call(
        &h,
        "POST",
        "/checkout",
        Some(checkout("price_not_in_catalog")),
        Some(&token()),
    )
    .await;
    assert_eq!((status, code(&reply)), (400, "unknown_price"));
    let (status, reply) = call(
        &h,
        "POST",
        "/checkout",
        Some(checkout("enterprise_monthly")),
        Some(&token()),
    )
    .await;
    assert_eq!((status, code(&reply)), (400, "contact_sales"));
    for (field, url) in [
        ("successUrl", "https://evil.example/x"),
        ("cancelUrl", "https://app.example.com@evil.example/"),
    ] {
        let mut body = checkout("starter_monthly");
        body[field] = url.into();
        let (status, reply) = call(&h, "POST", "/checkout", Some(body), Some(&token())).await;
        assert_eq!((status, code(&reply)), (400, "redirect_not_allowed"));
    }
    let (status, reply) = call(
        &h,
        "POST",
        "/portal",
        Some(json!({"returnUrl": "https://evil.example"})),
        Some(&token()),
    )
    .await;
    assert_eq!((status, code(&reply)), (400, "redirect_not_allowed"));
    assert!(h.stripe.calls().is_empty(), "no customer was created");
}

#[tokio::test]
async fn a_second_subscription_is_refused_with_409_pointing_at_the_portal() {
    let h = harness();
    call(
        &h,
        "POST",
        "/checkout",
        Some(checkout("credits_1000")),
        Some(&token()),
    )
    .await;
    let customer = h.stripe.customers()[0].0.clone();
    h.stripe.add_subscription("sub_live", &customer, "active");
    let (status, reply) = call(
        &h,
        "POST",
        "/checkout",
        Some(checkout("pro_monthly")),
        Some(&token()),
    )
    .await;
    assert_eq!((status, code(&reply)), (409, "subscription_exists"));
    assert!(reply["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/portal"));
    // Credit packs are still for sale.
    assert_eq!(
        call(
            &h,
            "POST",
            "/checkout",
            Some(checkout("credits_5000")),
            Some(&token())
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn a_checkout_is_refused_when_the_entitlements_hold_a_live_subscription_from_another_customer(
) {
    let h = harness();
    let mut stored = Entitlements::on_plan(
        SubjectId::parse(USER).unwrap(),
        PlanCatalog::builtin().plan("starter").unwrap(),
        Status::Active,
    );
    stored.subscription_id = Some("sub_on_another_customer".into());
    h.entitlements.put(stored.clone());
    let (status, reply) = post(&h, "/checkout", Some(checkout("pro_monthly"))).await;
    assert_eq!((status, code(&reply)), (409, "subscription_exists"));
    assert!(h.stripe.checkouts().is_empty());
    // A canceling plan whose period is over is no longer live: the checkout goes ahead.
    stored.status = Status::Canceling;
    stored.period_end = Some(UnixTime::from_secs(NOW - 60).to_rfc3339());
    h.entitlements.put(stored);
    let (status, reply) = post(&h, "/checkout", Some(checkout("pro_monthly"))).await;
    assert_eq!(status, 200, "{reply}");
}

#[tokio::test]
async fn a_trial_on_the_catalog_price_is_passed_to_checkout_and_plans_show_it() {
    let mut h = harness();
    let text = include_str!("../../../../../config/plans.toml").replace(
        "lookup_key = \"pro_monthly\"\n",
        "lookup_key = \"pro_monthly\"\ntrial_days = 7\n",
    );
    h.deps.catalog = PlanCatalog::parse(&text).unwrap();
    let (status, reply) = post(&h, "/checkout", Some(checkout("pro_monthly"))).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        h.stripe.checkouts()[0].trial,
        Some(entitle_domain::ports::Trial {
            days: 7,
            requires_payment_method: true
        })
    );
}

#[tokio::test]
async fn an_addon_is_sold_beside_a_live_plan_and_never_as_a_plan_change() {
    let h = harness();
    h.stripe.add_price("team_pack_monthly", "price_team_pack");
    let mut stored = Entitlements::on_plan(
        SubjectId::parse(USER).unwrap(),
        PlanCatalog::builtin().plan("starter").unwrap(),
        Status::Active,
    );
    stored.subscription_id = Some("sub_starter".into());
    h.entitlements.put(stored);
    // A second plan is refused, the add-on beside it is sold (several units at once).
    let (status, reply) = post(&h, "/checkout", Some(checkout("pro_monthly"))).await;
    assert_eq!((status, code(&reply)), (409, "subscription_exists"));
    let mut body = checkout("team_pack_monthly");
    body["quantity"] = json!(3);
    let (status, reply) = post(&h, "/checkout", Some(body)).await;
    assert_eq!(status, 200, "{reply}");
    let sessions = h.stripe.checkouts();
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        (sessions[0].price_id.as_str(), sessions[0].quantity),
        ("price_team_pack", 3)
    );
    let mut body = checkout("team_pack_monthly");
    body["quantity"] = json!(101);
    let (status, reply) = post(&h, "/checkout", Some(body)).await;
    assert_eq!((status, code(&reply)), (400, "quantity_not_allowed"));
    // Changing the plan to an add-on is not a plan change.
    let h = harness();
    subscribed(&h).await;
    let (status, reply) = post(
        &h,
        "/subscription/change",
        Some(json!({"price": "team_pack_monthly"})),
    )
    .await;
    assert_eq!((status, code(&reply)), (400, "addon_price"));
}

#[tokio::test]
async fn a_plan_with_overage_adds_its_metered_price_of_the_same_interval_to_checkout() {
    let mut h = harness();
    h.deps.catalog = catalog_with_overage();
    h.stripe.add_price(
        "starter_messages_per_day_overage_month",
        "price_overage_month",
    );
    h.stripe.add_price(
        "starter_messages_per_day_overage_year",
        "price_overage_year",
    );
    let (status, body) = call(
        &h,
        "POST",
        "/checkout",
        Some(checkout("starter_monthly")),
        Some(&token()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        &h,
        "POST",
        "/checkout",
        Some(checkout("starter_yearly")),
        Some(&token()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sessions = h.stripe.checkouts();
    assert_eq!(sessions.len(), 2);
    assert_eq!(
        (sessions[0].price_id.as_str(), sessions[0].quantity),
        ("price_local_starter_monthly", 1)
    );
    assert_eq!(sessions[0].metered_price_ids, ["price_overage_month"]);
    assert_eq!(sessions[1].price_id, "price_starter_yearly");
    assert_eq!(sessions[1].metered_price_ids, ["price_overage_year"]);
}

#[tokio::test]
async fn a_plan_without_overage_checks_out_its_price_alone_and_a_missing_metered_price_is_a_502() {
    let mut h = harness();
    h.deps.catalog = catalog_with_overage();
    let (status, body) = call(
        &h,
        "POST",
        "/checkout",
        Some(checkout("pro_monthly")),
        Some(&token()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(h.stripe.checkouts()[0].metered_price_ids.is_empty());

    // Starter bills overage, but `catalog apply` has not created its metered price yet.
    let (status, body) = call(
        &h,
        "POST",
        "/checkout",
        Some(checkout("starter_monthly")),
        Some(&token()),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(code(&body), "price_unavailable");
    assert_eq!(h.stripe.checkouts().len(), 1, "no session without it");
}
