//! The subscription routes against the local fake Stripe (the production client) and the local AWS tables.
use crate::helpers::{checkout_body, TestApp};
use entitle_domain::entitlements::{Entitlements, Status};
use entitle_domain::ids::SubjectId;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::time::UnixTime;
use serde_json::{json, Value};

const STARTER: &str = "price_local_starter_monthly";
const PRO: &str = "price_local_pro_monthly";

/// A user with their own customer (made by a first checkout) and an active Starter subscription on it, half
/// way through its period.
async fn subscribed() -> (TestApp, Value) {
    let app = TestApp::spawn().await;
    let first = app
        .call("POST", "/checkout", Some(checkout_body("starter_monthly")))
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let end = UnixTime::now().secs() + 15 * 86_400;
    let sub = app.stripe.seed_subscription(json!({
        "customer": first.body["customerId"], "price": STARTER, "quantity": 1, "status": "active",
        "metadata": {"userId": app.user_id}, "current_period_end": end,
        "current_period_start": end - 30 * 86_400,
    }));
    (app, sub)
}

#[tokio::test]
async fn a_cancel_then_a_resume_go_to_stripe_and_answer_the_new_state() {
    let (app, sub) = subscribed().await;
    let id = sub["id"].as_str().unwrap();
    let path = format!("/v1/subscriptions/{id}");
    let canceled = app.call("POST", "/subscription/cancel", None).await;
    assert_eq!(canceled.status, 200, "{}", canceled.body);
    assert_eq!(canceled.body["status"], "canceling");
    assert_eq!(canceled.body["plan"], "starter");
    assert_eq!(canceled.body["cancelAtPeriodEnd"], true);
    assert_eq!(
        canceled.body["periodEnd"],
        UnixTime::from_secs(
            sub["items"]["data"][0]["current_period_end"]
                .as_i64()
                .unwrap()
        )
        .to_rfc3339()
    );
    let sent = app.writes(&path);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["params"]["cancel_at_period_end"], "true");
    assert!(sent[0]["idempotencyKey"]
        .as_str()
        .unwrap()
        .starts_with("entitle-subscription-"));

    let again = app
        .call(
            "POST",
            "/subscription/cancel",
            Some(json!({"atPeriodEnd": true})),
        )
        .await;
    assert_eq!((again.status, &again.body), (200, &canceled.body));
    assert_eq!(app.writes(&path).len(), 1, "a second cancel writes nothing");

    let resumed = app.call("POST", "/subscription/resume", None).await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    assert_eq!(resumed.body["status"], "active");
    assert_eq!(resumed.body["cancelAtPeriodEnd"], false);
    assert_eq!(
        app.writes(&path)[1]["params"]["cancel_at_period_end"],
        "false"
    );
}

#[tokio::test]
async fn an_immediate_cancel_ends_the_subscription_and_it_cannot_be_resumed() {
    let (app, sub) = subscribed().await;
    let id = sub["id"].as_str().unwrap();
    let reply = app
        .call(
            "POST",
            "/subscription/cancel",
            Some(json!({"atPeriodEnd": false, "prorate": true, "invoiceNow": true})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["stripeStatus"], "canceled");
    assert_eq!(reply.body["plan"], "free");
    let sent = app.writes(&format!("/v1/subscriptions/{id}"));
    assert_eq!(sent[0]["method"], "DELETE");
    assert_eq!(sent[0]["params"]["prorate"], "true");
    assert_eq!(sent[0]["params"]["invoice_now"], "true");
    let resume = app.call("POST", "/subscription/resume", None).await;
    assert_eq!(
        (resume.status, resume.body["error"]["code"].as_str()),
        (409, Some("subscription_ended"))
    );
    let cancel = app
        .call(
            "POST",
            "/subscription/cancel",
            Some(json!({"atPeriodEnd": false})),
        )
        .await;
    assert_eq!(
        cancel.status, 200,
        "cancelling an ended subscription answers its state"
    );
}

#[tokio::test]
async fn a_change_preview_is_stripes_invoice_preview_and_changes_nothing() {
    let (app, sub) = subscribed().await;
    let reply = app
        .call(
            "POST",
            "/subscription/change",
            Some(json!({"price": "pro_monthly", "preview": true})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let preview = &reply.body["preview"];
    assert_eq!(preview["plan"], "professional");
    assert_eq!(preview["currency"], "usd");
    assert_eq!(preview["dueNow"], 0);
    let lines = preview["lines"].as_array().unwrap();
    let prorations: i64 = lines
        .iter()
        .filter(|l| l["proration"] == true)
        .map(|l| l["amount"].as_i64().unwrap())
        .sum();
    // About half the period is left: about half the difference of the two prices.
    assert!((7400..=7600).contains(&prorations), "{prorations}");
    assert_eq!(
        preview["nextInvoiceAmount"].as_i64().unwrap(),
        prorations + 19900
    );
    let create = app
        .stripe
        .requests()
        .into_iter()
        .find(|r| r["path"] == "/v1/invoices/create_preview")
        .expect("Stripe's preview was asked");
    assert_eq!(create["params"]["subscription"], sub["id"]);
    assert_eq!(
        create["params"]["subscription_details"]["items"][0]["id"],
        sub["items"]["data"][0]["id"]
    );
    assert_eq!(
        create["params"]["subscription_details"]["items"][0]["price"],
        PRO
    );
    assert!(app
        .writes(&format!(
            "/v1/subscriptions/{}",
            sub["id"].as_str().unwrap()
        ))
        .is_empty());
}

#[tokio::test]
async fn a_change_switches_the_plan_item_with_the_proration_asked_for() {
    let (app, sub) = subscribed().await;
    let reply = app
        .call(
            "POST",
            "/subscription/change",
            Some(json!({"price": "pro_monthly", "prorationBehavior": "always_invoice"})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["plan"], "professional");
    assert_eq!(reply.body["status"], "active");
    let sent = app.writes(&format!(
        "/v1/subscriptions/{}",
        sub["id"].as_str().unwrap()
    ));
    assert_eq!(sent.len(), 1);
    let params = &sent[0]["params"];
    assert_eq!(params["items"][0]["id"], sub["items"]["data"][0]["id"]);
    assert_eq!(params["items"][0]["price"], PRO);
    assert_eq!(params["proration_behavior"], "always_invoice");
    let same = app
        .call(
            "POST",
            "/subscription/change",
            Some(json!({"price": "pro_monthly"})),
        )
        .await;
    assert_eq!(
        (same.status, same.body["error"]["code"].as_str()),
        (400, Some("already_on_plan"))
    );
}

#[tokio::test]
async fn a_subscription_on_another_customer_that_names_the_user_is_found_through_the_entitlements()
{
    let app = TestApp::spawn().await;
    let sub = app.stripe.seed_subscription(json!({
        "customer": "cus_elsewhere", "price": STARTER, "quantity": 1, "status": "active",
        "metadata": {"userId": app.user_id},
    }));
    let user = SubjectId::parse(app.user_id.as_str()).unwrap();
    let mut stored = Entitlements::on_plan(
        user,
        PlanCatalog::builtin().plan("starter").unwrap(),
        Status::Active,
    );
    stored.subscription_id = Some(sub["id"].as_str().unwrap().to_owned());
    app.entitlements.put(&stored).await.unwrap();
    let reply = app.call("POST", "/subscription/cancel", None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["subscriptionId"], sub["id"]);
    assert_eq!(reply.body["status"], "canceling");
}

#[tokio::test]
async fn without_a_subscription_the_routes_answer_404_and_stripe_failures_are_503_or_502() {
    let app = TestApp::spawn().await;
    let none = app.call("POST", "/subscription/resume", None).await;
    assert_eq!(
        (none.status, none.body["error"]["code"].as_str()),
        (404, Some("no_subscription"))
    );
    let first = app
        .call("POST", "/checkout", Some(checkout_body("starter_monthly")))
        .await;
    app.stripe.seed_subscription(json!({
        "customer": first.body["customerId"], "price": STARTER, "quantity": 1, "status": "active",
    }));
    app.stripe.fail_next(1, 503, "POST", "/v1/subscriptions/");
    let down = app.call("POST", "/subscription/cancel", None).await;
    assert_eq!(
        (down.status, down.body["error"]["code"].as_str()),
        (503, Some("unavailable"))
    );
    app.stripe.fail_next(1, 402, "POST", "/v1/subscriptions/");
    let refused = app
        .call(
            "POST",
            "/subscription/change",
            Some(json!({"price": "pro_monthly"})),
        )
        .await;
    assert_eq!(
        (refused.status, refused.body["error"]["code"].as_str()),
        (502, Some("payment_provider_error"))
    );
}

/// The fake Stripe's view of a subscription schedule (its control log has every request; GET it back).
fn schedule_writes(app: &TestApp) -> Vec<Value> {
    app.stripe
        .requests()
        .into_iter()
        .filter(|r| {
            r["method"] == "POST"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/v1/subscription_schedules"))
        })
        .collect()
}

#[tokio::test]
async fn a_change_at_the_period_end_goes_through_a_subscription_schedule_and_a_cancel_releases_it()
{
    let (app, sub) = subscribed().await;
    let id = sub["id"].as_str().unwrap();
    let end = sub["items"]["data"][0]["current_period_end"]
        .as_i64()
        .unwrap();
    let start = sub["items"]["data"][0]["current_period_start"]
        .as_i64()
        .unwrap();
    let body = json!({"price": "pro_monthly", "at": "period_end"});
    let reply = app
        .call("POST", "/subscription/change", Some(body.clone()))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["scheduledChange"],
        json!({"plan": "professional", "price": PRO, "at": UnixTime::from_secs(end).to_rfc3339()})
    );
    assert_eq!(
        (reply.body["plan"].as_str(), reply.body["status"].as_str()),
        (Some("starter"), Some("active")),
        "the plan stays until the period ends"
    );
    // Made from the subscription, then its phases: the current one to the period end, then Pro; released after.
    let sent = schedule_writes(&app);
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert_eq!(sent[0]["params"]["from_subscription"], id);
    let phases = &sent[1]["params"]["phases"];
    assert_eq!(phases[0]["items"][0]["price"], STARTER);
    assert_eq!(phases[0]["start_date"], start.to_string());
    assert_eq!(phases[0]["end_date"], end.to_string());
    assert_eq!(phases[1]["items"][0]["price"], PRO);
    assert_eq!(sent[1]["params"]["end_behavior"], "release");
    assert_eq!(sent[1]["params"]["proration_behavior"], "none");
    assert!(sent
        .iter()
        .all(|r| r["idempotencyKey"].as_str().is_some_and(|k| !k.is_empty())));

    // The same request again within the window is the same Stripe writes (replayed by their keys).
    let again = app.call("POST", "/subscription/change", Some(body)).await;
    assert_eq!((again.status, &again.body), (200, &reply.body));

    // The subscription now names its schedule; reading the state shows the change.
    let read = app.call("POST", "/subscription/resume", None).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["scheduledChange"]["plan"], "professional");

    // A cancel releases the schedule first (Stripe refuses a cancel of a scheduled subscription otherwise).
    let canceled = app.call("POST", "/subscription/cancel", None).await;
    assert_eq!(canceled.status, 200, "{}", canceled.body);
    assert_eq!(canceled.body["status"], "canceling");
    assert_eq!(canceled.body["scheduledChange"], Value::Null);
    let release = schedule_writes(&app);
    assert!(
        release
            .last()
            .and_then(|r| r["path"].as_str())
            .is_some_and(|p| p.ends_with("/release")),
        "{release:#?}"
    );
}

#[tokio::test]
async fn a_subscription_on_an_archived_price_whose_lookup_key_moved_still_answers_its_plan() {
    let app = TestApp::spawn().await;
    let first = app
        .call("POST", "/checkout", Some(checkout_body("starter_monthly")))
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    // What `entitle catalog apply` leaves after a price change: the old price archived, without the lookup
    // key, marked with its plan.
    let old = entitle_test_support::fixtures::unique_id("price_");
    app.stripe
        .seed_price(json!({"id": old, "unit_amount": 3900, "currency": "usd",
        "recurring": {"interval": "month"}, "product": "prod_entitle", "active": false,
        "metadata": {"entitle": "starter"}}));
    let end = UnixTime::now().secs() + 15 * 86_400;
    app.stripe.seed_subscription(json!({
        "customer": first.body["customerId"], "price": old, "quantity": 1, "status": "active",
        "metadata": {"userId": app.user_id}, "current_period_end": end,
        "current_period_start": end - 30 * 86_400,
    }));
    let reply = app.call("POST", "/subscription/cancel", None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["plan"], "starter");
    assert_eq!(reply.body["status"], "canceling");
}

#[tokio::test]
async fn a_subscription_with_a_metered_overage_item_first_is_read_by_its_plan_item_and_not_changed_half(
) {
    let app = TestApp::spawn().await;
    let first = app
        .call("POST", "/checkout", Some(checkout_body("starter_monthly")))
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    app.stripe.seed_price(
        json!({"id": "price_local_starter_overage", "unit_amount": 1, "currency": "usd",
        "recurring": {"interval": "month", "usage_type": "metered"},
        "metadata": {"entitle": "starter", "entitle_overage": "messages_per_day"}}),
    );
    let end = UnixTime::now().secs() + 15 * 86_400;
    let sub = app.stripe.seed_subscription(json!({
        "customer": first.body["customerId"], "status": "active", "metadata": {"userId": app.user_id},
        "items": [{"price": "price_local_starter_overage"}, {"price": STARTER, "quantity": 1}],
        "current_period_end": end, "current_period_start": end - 30 * 86_400,
    }));
    assert_eq!(
        sub["items"]["data"][0]["price"]["recurring"]["usage_type"], "metered",
        "{sub}"
    );
    let canceled = app.call("POST", "/subscription/cancel", None).await;
    assert_eq!(canceled.status, 200, "{}", canceled.body);
    assert_eq!(canceled.body["plan"], "starter");
    let change = app
        .call(
            "POST",
            "/subscription/change",
            Some(json!({"price": "pro_monthly"})),
        )
        .await;
    assert_eq!(
        (change.status, change.body["error"]["code"].as_str()),
        (409, Some("plan_change_unsupported")),
        "{}",
        change.body
    );
}
