//! Plan changes, cancels and resumes of subscriptions with add-ons, against the local Stripe (the production
//! client): the plan item found by the catalog in any item order, add-ons kept by a change and stopped by a
//! cancel, and idempotency keys that never merge two intents.
use crate::helpers::{checkout_body, TestApp};
use entitle_domain::time::UnixTime;
use serde_json::{json, Value};

const STARTER: &str = "price_local_starter_monthly";
const PRO: &str = "price_local_pro_monthly";
const PACK: &str = "price_local_team_pack_monthly";
const STARTER_YEARLY: &str = "price_local_starter_yearly";

/// A user with a customer and a subscription on `items` (`[(price, quantity)]`, in that order), half way
/// through its period.
async fn subscribed_to(items: &[(&str, u64)]) -> (TestApp, Value) {
    let app = TestApp::spawn().await;
    for (id, key, amount, interval) in [
        (PACK, "team_pack_monthly", 2900, "month"),
        (STARTER_YEARLY, "starter_yearly", 49000, "year"),
    ] {
        app.stripe.seed_price(json!({
            "id": id, "lookup_key": key, "unit_amount": amount, "currency": "usd",
            "recurring": {"interval": interval}, "product": "prod_entitle"
        }));
    }
    let first = app
        .call("POST", "/checkout", Some(checkout_body("starter_monthly")))
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let customer = first.body["customerId"].clone();
    let sub = seed(&app, &customer, items);
    (app, sub)
}

fn seed(app: &TestApp, customer: &Value, items: &[(&str, u64)]) -> Value {
    let end = UnixTime::now().secs() + 15 * 86_400;
    app.stripe.seed_subscription(json!({
        "customer": customer, "status": "active",
        "items": items.iter().map(|(price, q)| json!({"price": price, "quantity": q})).collect::<Vec<_>>(),
        "metadata": {"userId": app.user_id}, "current_period_end": end,
        "current_period_start": end - 30 * 86_400,
    }))
}

fn item_id(sub: &Value, price: &str) -> String {
    sub["items"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["price"]["id"] == price)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The subscription as Stripe holds it now: `(price, quantity)` of each item, sorted.
async fn items_now(app: &TestApp, id: &str) -> Vec<(String, u64)> {
    let now = app.stripe_subscription(id).await;
    let mut items: Vec<_> = now
        .items
        .iter()
        .map(|i| (i.price_id.clone(), i.quantity))
        .collect();
    items.sort();
    items
}

#[tokio::test]
async fn a_change_now_switches_the_plan_item_in_either_item_order_and_keeps_the_addon() {
    for order in [[(PACK, 2), (STARTER, 1)], [(STARTER, 1), (PACK, 2)]] {
        let (app, sub) = subscribed_to(&order).await;
        let id = sub["id"].as_str().unwrap();
        let plan_item = item_id(&sub, STARTER);

        let preview = app
            .call(
                "POST",
                "/subscription/change",
                Some(json!({"price": "pro_monthly", "preview": true})),
            )
            .await;
        assert_eq!(preview.status, 200, "{}", preview.body);
        let sent = app.writes("/v1/invoices/create_preview");
        assert_eq!(
            sent[0]["params"]["subscription_details"]["items"][0]["id"],
            plan_item.as_str(),
            "the preview names the plan item, not the first item"
        );
        // The add-on's two units stay on the next invoice beside Pro.
        let next: i64 = 19900 + 2 * 2900;
        assert!(
            preview.body["preview"]["nextInvoiceAmount"]
                .as_i64()
                .unwrap()
                >= next,
            "{}",
            preview.body
        );

        let changed = app
            .call(
                "POST",
                "/subscription/change",
                Some(json!({"price": "pro_monthly"})),
            )
            .await;
        assert_eq!(changed.status, 200, "{}", changed.body);
        assert_eq!(changed.body["plan"], "professional");
        let update = app.writes(&format!("/v1/subscriptions/{id}"));
        assert_eq!(update.len(), 1);
        assert_eq!(update[0]["params"]["items"][0]["id"], plan_item.as_str());
        assert_eq!(update[0]["params"]["items"][0]["quantity"], "1");
        assert_eq!(
            items_now(&app, id).await,
            [(PRO.to_owned(), 1), (PACK.to_owned(), 2)],
            "one plan, the add-on kept"
        );
    }
}

#[tokio::test]
async fn a_plan_item_with_quantity_three_keeps_it_now_and_at_the_period_end() {
    let (app, sub) = subscribed_to(&[(PACK, 1), (STARTER, 3)]).await;
    let id = sub["id"].as_str().unwrap();
    let scheduled = app
        .call(
            "POST",
            "/subscription/change",
            Some(json!({"price": "pro_monthly", "at": "period_end"})),
        )
        .await;
    assert_eq!(scheduled.status, 200, "{}", scheduled.body);
    assert_eq!(scheduled.body["scheduledChange"]["plan"], "professional");
    let phases: Vec<Value> = app
        .stripe
        .requests()
        .into_iter()
        .filter(|r| r["method"] == "POST" && r["params"]["phases"].is_array())
        .collect();
    let phases = &phases.last().unwrap()["params"]["phases"];
    let phase = |n: usize| {
        let mut items: Vec<(String, String)> = phases[n]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["price"].as_str().unwrap().to_owned(),
                    i["quantity"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        items.sort();
        items
    };
    assert_eq!(
        phase(0),
        [(STARTER.into(), "3".into()), (PACK.into(), "1".into())]
    );
    assert_eq!(
        phase(1),
        [(PRO.into(), "3".into()), (PACK.into(), "1".into())]
    );
    assert_eq!(
        items_now(&app, id).await,
        [(STARTER.to_owned(), 3), (PACK.to_owned(), 1)]
    );

    // A change now instead: the schedule released, the plan item switched with its quantity.
    let now = app
        .call(
            "POST",
            "/subscription/change",
            Some(json!({"price": "pro_monthly"})),
        )
        .await;
    assert_eq!(now.status, 200, "{}", now.body);
    assert_eq!(
        items_now(&app, id).await,
        [(PRO.to_owned(), 3), (PACK.to_owned(), 1)]
    );
}

#[tokio::test]
async fn no_base_plan_item_or_two_of_them_is_a_409_and_nothing_is_sent() {
    let (app, sub) = subscribed_to(&[(STARTER, 1), (PRO, 1)]).await;
    let id = sub["id"].as_str().unwrap();
    for body in [
        json!({"price": "starter_yearly"}),
        json!({"price": "starter_yearly", "preview": true}),
        json!({"price": "starter_yearly", "at": "period_end"}),
    ] {
        let reply = app.call("POST", "/subscription/change", Some(body)).await;
        assert_eq!(
            (reply.status, reply.body["error"]["code"].as_str()),
            (409, Some("several_plan_items")),
            "{}",
            reply.body
        );
    }
    assert!(app.writes(&format!("/v1/subscriptions/{id}")).is_empty());
    assert!(app.writes("/v1/invoices/create_preview").is_empty());
    assert!(app.writes("/v1/subscription_schedules").is_empty());
}

#[tokio::test]
async fn a_subscription_on_no_price_of_the_catalog_has_no_plan_item_to_change() {
    let (app, starter) = subscribed_to(&[(STARTER, 1)]).await;
    app.stripe.seed_price(
        json!({"id": "price_elsewhere", "unit_amount": 100, "currency": "usd",
        "recurring": {"interval": "month"}, "product": "prod_other"}),
    );
    // The user's subscription (the newest) sells nothing the catalog knows.
    let _ended = app
        .call(
            "POST",
            "/subscription/cancel",
            Some(json!({"atPeriodEnd": false})),
        )
        .await;
    assert_eq!(
        items_now(&app, starter["id"].as_str().unwrap()).await.len(),
        1
    );
    let other = seed(&app, &starter["customer"], &[("price_elsewhere", 1)]);
    let reply = app
        .call(
            "POST",
            "/subscription/change",
            Some(json!({"price": "pro_monthly"})),
        )
        .await;
    assert_eq!(
        (reply.status, reply.body["error"]["code"].as_str()),
        (409, Some("no_plan_item")),
        "{}",
        reply.body
    );
    assert!(app
        .writes(&format!(
            "/v1/subscriptions/{}",
            other["id"].as_str().unwrap()
        ))
        .is_empty());
}

#[tokio::test]
async fn cancel_resume_cancel_within_one_second_are_three_writes_and_stripe_ends_canceling() {
    let (app, sub) = subscribed_to(&[(STARTER, 1)]).await;
    let id = sub["id"].as_str().unwrap();
    for (path, canceling) in [
        ("/subscription/cancel", true),
        ("/subscription/resume", false),
        ("/subscription/cancel", true),
    ] {
        let reply = app.call("POST", path, None).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body["cancelAtPeriodEnd"], canceling, "{}", reply.body);
        let now = app.stripe_subscription(id).await;
        assert_eq!(
            now.cancel_at_period_end, canceling,
            "Stripe's own state after {path}"
        );
    }
    let sent = app.writes(&format!("/v1/subscriptions/{id}"));
    assert_eq!(sent.len(), 3);
    let mut keys: Vec<_> = sent.iter().map(|r| r["idempotencyKey"].clone()).collect();
    keys.dedup();
    assert_eq!(keys.len(), 3, "three intents, three keys: {keys:?}");
    // A double click on one state is one write.
    let again = app.call("POST", "/subscription/cancel", None).await;
    assert_eq!(again.status, 200);
    assert_eq!(app.writes(&format!("/v1/subscriptions/{id}")).len(), 3);
}

#[tokio::test]
async fn a_client_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let (app, sub) = subscribed_to(&[(STARTER, 1)]).await;
    let id = sub["id"].as_str().unwrap();
    let key = entitle_test_support::fixtures::unique_id("click-");
    let first = app
        .call_with_key(
            "POST",
            "/subscription/cancel",
            Some(json!({"atPeriodEnd": true})),
            &key,
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    // The user resumes (another intent, no key), then the first request is retried under its key.
    let resumed = app.call("POST", "/subscription/resume", None).await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    let retried = app
        .call_with_key(
            "POST",
            "/subscription/cancel",
            Some(json!({"atPeriodEnd": true})),
            &key,
        )
        .await;
    assert_eq!(
        (retried.status, &retried.body),
        (200, &first.body),
        "the first answer again"
    );
    assert_eq!(
        app.writes(&format!("/v1/subscriptions/{id}")).len(),
        2,
        "executed once"
    );
    let other = app
        .call_with_key(
            "POST",
            "/subscription/cancel",
            Some(json!({"atPeriodEnd": false})),
            &key,
        )
        .await;
    assert_eq!(
        (other.status, other.body["error"]["code"].as_str()),
        (409, Some("idempotency_conflict")),
        "{}",
        other.body
    );
    assert!(!app.stripe_subscription(id).await.cancel_at_period_end);
    let bad = app
        .call_with_key("POST", "/subscription/cancel", None, &"x".repeat(300))
        .await;
    assert_eq!(
        (bad.status, bad.body["error"]["code"].as_str()),
        (400, Some("invalid_idempotency_key"))
    );
    // A key that is not ASCII is refused as well, not taken for no key: the cancel would run without one.
    let accented = app
        .call_with_key("POST", "/subscription/cancel", None, "café-1")
        .await;
    assert_eq!(
        (accented.status, accented.body["error"]["code"].as_str()),
        (400, Some("invalid_idempotency_key")),
        "{}",
        accented.body
    );
    assert_eq!(
        app.writes(&format!("/v1/subscriptions/{id}")).len(),
        2,
        "refused keys write nothing"
    );
}

#[tokio::test]
async fn a_refused_request_under_a_key_is_not_kept_so_the_fixed_request_runs_under_it() {
    let (app, sub) = subscribed_to(&[(STARTER, 1)]).await;
    let id = sub["id"].as_str().unwrap();
    let key = entitle_test_support::fixtures::unique_id("fix-");
    let refused = app
        .call_with_key(
            "POST",
            "/subscription/cancel",
            Some(json!({"atPeriodEnd": "yes"})),
            &key,
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(app.writes(&format!("/v1/subscriptions/{id}")).is_empty());
    // The same refusal again is refused again (it is checked, not replayed), and the fixed body runs: no
    // `409 idempotency_conflict`, as Stripe keeps no result for a request that failed validation.
    let again = app
        .call_with_key(
            "POST",
            "/subscription/cancel",
            Some(json!({"atPeriodEnd": "yes"})),
            &key,
        )
        .await;
    assert_eq!((again.status, &again.body), (400, &refused.body));
    let fixed = app
        .call_with_key(
            "POST",
            "/subscription/cancel",
            Some(json!({"atPeriodEnd": true})),
            &key,
        )
        .await;
    assert_eq!(fixed.status, 200, "{}", fixed.body);
    assert!(app.stripe_subscription(id).await.cancel_at_period_end);
    let replayed = app
        .call_with_key(
            "POST",
            "/subscription/cancel",
            Some(json!({"atPeriodEnd": true})),
            &key,
        )
        .await;
    assert_eq!((replayed.status, &replayed.body), (200, &fixed.body));
    assert_eq!(
        app.writes(&format!("/v1/subscriptions/{id}")).len(),
        1,
        "the fixed request ran once"
    );
}

#[tokio::test]
async fn a_cancel_stops_the_addon_subscription_too_and_a_resume_resumes_both() {
    let (app, plan) = subscribed_to(&[(STARTER, 1)]).await;
    let pack = seed(&app, &plan["customer"], &[(PACK, 2)]);
    let (plan_id, pack_id) = (plan["id"].as_str().unwrap(), pack["id"].as_str().unwrap());
    let canceled = app.call("POST", "/subscription/cancel", None).await;
    assert_eq!(canceled.status, 200, "{}", canceled.body);
    assert_eq!(canceled.body["subscriptionId"], plan_id);
    let listed: Vec<(String, String, bool, u64)> = canceled.body["canceled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["subscriptionId"].as_str().unwrap().to_owned(),
                c["plan"].as_str().unwrap().to_owned(),
                c["addon"].as_bool().unwrap(),
                c["quantity"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (plan_id.to_owned(), "starter".to_owned(), false, 1),
            (pack_id.to_owned(), "team_pack".to_owned(), true, 2)
        ]
    );
    for id in [plan_id, pack_id] {
        assert!(app.stripe_subscription(id).await.cancel_at_period_end);
    }
    let resumed = app.call("POST", "/subscription/resume", None).await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    assert_eq!(
        resumed.body["resumed"].as_array().unwrap().len(),
        2,
        "{}",
        resumed.body
    );
    for id in [plan_id, pack_id] {
        assert!(!app.stripe_subscription(id).await.cancel_at_period_end);
    }
    // keepAddons: only the plan stops.
    let kept = app
        .call(
            "POST",
            "/subscription/cancel",
            Some(json!({"keepAddons": true, "atPeriodEnd": false})),
        )
        .await;
    assert_eq!(kept.status, 200, "{}", kept.body);
    assert_eq!(app.stripe_subscription(plan_id).await.status, "canceled");
    let pack_now = app.stripe_subscription(pack_id).await;
    assert_eq!(
        (pack_now.status.as_str(), pack_now.cancel_at_period_end),
        ("active", false)
    );
}

#[tokio::test]
async fn a_cancel_says_it_dropped_the_scheduled_change() {
    let (app, _) = subscribed_to(&[(STARTER, 1)]).await;
    let scheduled = app
        .call(
            "POST",
            "/subscription/change",
            Some(json!({"price": "pro_monthly", "at": "period_end"})),
        )
        .await;
    assert_eq!(scheduled.status, 200, "{}", scheduled.body);
    let canceled = app.call("POST", "/subscription/cancel", None).await;
    assert_eq!(canceled.status, 200, "{}", canceled.body);
    assert_eq!(
        canceled.body["droppedScheduledChange"]["plan"],
        "professional"
    );
    assert_eq!(canceled.body["scheduledChange"], Value::Null);
}

#[tokio::test]
async fn a_period_end_change_whose_phases_fail_leaves_no_schedule_and_a_retry_succeeds() {
    let (app, sub) = subscribed_to(&[(STARTER, 1)]).await;
    let id = sub["id"].as_str().unwrap();
    app.stripe
        .fail_next(1, 500, "POST", "/v1/subscription_schedules/sub_sched_");
    let body = json!({"price": "pro_monthly", "at": "period_end"});
    let failed = app
        .call("POST", "/subscription/change", Some(body.clone()))
        .await;
    assert!(failed.status >= 500, "{}", failed.body);
    let now = app.stripe_subscription(id).await;
    assert_eq!(now.schedule, None, "the schedule it made is released");
    // Stripe is as before: a cancel goes through, and so does the change, retried.
    let retried = app.call("POST", "/subscription/change", Some(body)).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(retried.body["scheduledChange"]["plan"], "professional");
    let canceled = app.call("POST", "/subscription/cancel", None).await;
    assert_eq!(
        (canceled.status, canceled.body["status"].as_str()),
        (200, Some("canceling"))
    );
}

#[tokio::test]
async fn a_period_end_preview_to_a_yearly_price_is_nothing_now_and_the_year_at_the_period_end() {
    let (app, sub) = subscribed_to(&[(PRO, 1)]).await;
    let end = sub["items"]["data"][0]["current_period_end"]
        .as_i64()
        .unwrap();
    let reply = app
        .call(
            "POST",
            "/subscription/change",
            Some(json!({"price": "starter_yearly", "at": "period_end", "preview": true})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let preview = &reply.body["preview"];
    assert_eq!(preview["dueNow"], 0);
    assert_eq!(preview["nextInvoiceAmount"], 49000);
    assert_eq!(
        preview["nextInvoiceAt"],
        UnixTime::from_secs(end).to_rfc3339()
    );
    let sent = app.writes("/v1/invoices/create_preview");
    assert_eq!(
        sent[0]["params"]["subscription_details"]["start_date"],
        end.to_string()
    );
    assert_eq!(
        sent[0]["params"]["subscription_details"]["items"][0]["price"],
        STARTER_YEARLY
    );
}

#[tokio::test]
async fn an_unknown_price_is_named_with_the_catalogs_lookup_keys() {
    let (app, _) = subscribed_to(&[(STARTER, 1)]).await;
    let reply = app
        .call(
            "POST",
            "/subscription/change",
            Some(json!({"price": "gold_monthly"})),
        )
        .await;
    assert_eq!(reply.status, 400);
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("gold_monthly") && message.contains("pro_monthly"),
        "{message}"
    );
}
