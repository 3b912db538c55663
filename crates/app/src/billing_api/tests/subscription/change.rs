//! `POST /subscription/change`: previews, proration, scheduled changes, and what is refused.
use crate::billing_api::tests::{
    catalog_naming_prices_by_id, catalog_with_overage, code, harness, post, subscribed, PERIOD_END,
    PRO, STARTER,
};
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::ItemDetails;
use entitle_domain::time::UnixTime;
use serde_json::{json, Value};

#[tokio::test]
async fn a_change_preview_shows_the_prorations_and_changes_nothing() {
    let h = harness();
    let id = subscribed(&h).await;
    let (status, body) = post(
        &h,
        "/subscription/change",
        Some(json!({"price": "pro_monthly", "preview": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let preview = &body["preview"];
    assert_eq!(preview["plan"], "professional");
    assert_eq!(preview["prorationBehavior"], "create_prorations");
    assert_eq!(preview["dueNow"], 0);
    // Half a period left: -24.50 for Starter, +99.50 for Pro, then a full Pro period.
    assert_eq!(preview["nextInvoiceAmount"], 19900 / 2 - 4900 / 2 + 19900);
    assert_eq!(preview["lines"].as_array().unwrap().len(), 3);
    assert_eq!(body["subscription"]["plan"], "starter");
    assert_eq!(
        h.stripe.plan_subscription(&id).unwrap().items[0].price_id,
        STARTER
    );
    assert!(!h
        .stripe
        .calls()
        .iter()
        .any(|c| c.starts_with("change_plan")));
}

#[tokio::test]
async fn a_change_with_always_invoice_previews_what_is_due_now() {
    let h = harness();
    subscribed(&h).await;
    let (status, body) = post(
        &h,
        "/subscription/change",
        Some(
            json!({"price": "pro_monthly", "preview": true, "prorationBehavior": "always_invoice"}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["preview"]["dueNow"], 19900 / 2 - 4900 / 2);
    assert_eq!(body["preview"]["nextInvoiceAmount"], Value::Null);
}

#[tokio::test]
async fn a_change_switches_the_plan_item_under_a_key_derived_from_the_request() {
    let h = harness();
    let id = subscribed(&h).await;
    let (status, body) = post(
        &h,
        "/subscription/change",
        Some(json!({"price": "pro_monthly", "prorationBehavior": "none"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["plan"], "professional");
    assert_eq!(body["status"], "active");
    let sub = h.stripe.plan_subscription(&id).unwrap();
    assert_eq!(
        (sub.items[0].price_id.as_str(), sub.items[0].id.as_str()),
        (PRO, "si_life1")
    );
    let change = h
        .stripe
        .calls()
        .into_iter()
        .find(|c| c.starts_with("change_plan"))
        .unwrap();
    assert!(change.starts_with(&format!(
        "change_plan {id} {PRO} none entitle-subscription-"
    )));
}

#[tokio::test]
async fn a_change_refuses_the_current_price_credit_packs_unknown_and_sales_prices() {
    let h = harness();
    subscribed(&h).await;
    for (price, expected) in [
        ("starter_monthly", "already_on_plan"),
        ("credits_1000", "unknown_price"),
        ("price_nope", "unknown_price"),
        ("enterprise_monthly", "contact_sales"),
    ] {
        let (status, body) = post(&h, "/subscription/change", Some(json!({"price": price}))).await;
        assert_eq!((status, code(&body)), (400, expected), "{price}");
    }
    // A catalog that also names the price by id (a team with existing prices) recognises it by id.
    let mut h = harness();
    h.deps.catalog = catalog_naming_prices_by_id();
    subscribed(&h).await;
    let (status, body) = post(&h, "/subscription/change", Some(json!({"price": STARTER}))).await;
    assert_eq!((status, code(&body)), (400, "already_on_plan"));
    let h = harness();
    subscribed(&h).await;
    let (status, body) = post(
        &h,
        "/subscription/change",
        Some(json!({"price": "pro_monthly", "prorationBehavior": "sometimes"})),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "invalid_proration_behavior"));
    assert!(!h
        .stripe
        .calls()
        .iter()
        .any(|c| c.starts_with("change_plan")));
}

#[tokio::test]
async fn a_change_at_the_period_end_is_scheduled_shown_and_dropped_by_a_cancel_or_a_change_now() {
    let h = harness();
    let sub = subscribed(&h).await;
    let at_end = || json!({"price": "pro_monthly", "at": "period_end"});
    // The preview is the first invoice on the new price: nothing prorated.
    let mut preview = at_end();
    preview["preview"] = json!(true);
    let (status, body) = post(&h, "/subscription/change", Some(preview)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["preview"]["prorationBehavior"], "none");
    assert!(h.stripe.plan_subscription(&sub).unwrap().schedule.is_none());

    let (status, body) = post(&h, "/subscription/change", Some(at_end())).await;
    assert_eq!(status, 200, "{body}");
    let end = UnixTime::from_secs(PERIOD_END).to_rfc3339();
    assert_eq!(
        body["scheduledChange"],
        json!({"plan": "professional", "price": PRO, "at": end})
    );
    assert_eq!(
        body["plan"], "starter",
        "the plan stays until the period ends"
    );
    let now = h.stripe.plan_subscription(&sub).unwrap();
    assert_eq!(now.items[0].price_id, STARTER);
    assert!(now.schedule.is_some());
    // Reading the state again (resume of a subscription that is not canceling changes nothing) shows it.
    let (status, body) = post(&h, "/subscription/resume", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scheduledChange"]["plan"], "professional");

    // Prorating a change that happens at a period boundary makes no sense.
    let mut prorated = at_end();
    prorated["prorationBehavior"] = json!("always_invoice");
    let (status, body) = post(&h, "/subscription/change", Some(prorated)).await;
    assert_eq!((status, code(&body)), (400, "invalid_option"));

    // A cancel releases the schedule first: the subscription cancels, the change is gone.
    let (status, body) = post(&h, "/subscription/cancel", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scheduledChange"], Value::Null);
    assert_eq!(body["status"], "canceling");
    let after = h.stripe.plan_subscription(&sub).unwrap();
    assert!(after.schedule.is_none() && after.cancel_at_period_end);
    // A canceling subscription cannot schedule a change: resume first.
    let (status, body) = post(&h, "/subscription/change", Some(at_end())).await;
    assert_eq!((status, code(&body)), (400, "invalid_option"));

    // A change now replaces a scheduled one.
    let h = harness();
    let sub = subscribed(&h).await;
    let (status, _) = post(&h, "/subscription/change", Some(at_end())).await;
    assert_eq!(status, 200);
    let (status, body) = post(
        &h,
        "/subscription/change",
        Some(json!({"price": "pro_monthly"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["plan"].as_str(), &body["scheduledChange"]),
        (Some("professional"), &Value::Null)
    );
    assert!(h.stripe.plan_subscription(&sub).unwrap().schedule.is_none());
    assert!(h
        .stripe
        .calls()
        .iter()
        .any(|c| c.starts_with("release_schedule")));
}

#[tokio::test]
async fn a_plan_change_from_or_to_a_plan_that_bills_overage_is_refused_and_changes_nothing() {
    let mut h = harness();
    h.deps.catalog = catalog_with_overage();
    let id = subscribed(&h).await;
    // Starter bills overage: from it, and (below) to it, the change is refused, previews included.
    for body in [
        json!({"price": "pro_monthly"}),
        json!({"price": "pro_monthly", "preview": true}),
        json!({"price": "pro_monthly", "at": "period_end"}),
    ] {
        let (status, answer) = post(&h, "/subscription/change", Some(body)).await;
        assert_eq!(
            (status, code(&answer)),
            (409, "plan_change_unsupported"),
            "{answer}"
        );
    }
    // A subscription carrying a metered item, whatever the catalog says now.
    h.deps.catalog = PlanCatalog::builtin().clone();
    h.stripe.add_plan_subscription({
        let mut sub = h.stripe.plan_subscription(&id).unwrap();
        sub.items.push(ItemDetails {
            metered: true,
            ..ItemDetails::licensed("si_metered1", "price_metered", None, 1)
        });
        sub
    });
    let (status, answer) = post(
        &h,
        "/subscription/change",
        Some(json!({"price": "pro_monthly"})),
    )
    .await;
    assert_eq!(
        (status, code(&answer)),
        (409, "plan_change_unsupported"),
        "{answer}"
    );
    assert_eq!(
        h.stripe.plan_subscription(&id).unwrap().items[0].price_id,
        STARTER
    );
    assert!(
        !h.stripe.calls().iter().any(|c| c.starts_with("change_plan")
            || c.starts_with("preview")
            || c.starts_with("schedule"))
    );
}
