use crate::helpers::{call, checkout_body, TestApp, APP, ISSUER};
use entitle_domain::entitlements::{Entitlements, Status};
use entitle_domain::ids::SubjectId;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::time::UnixTime;
use entitle_test_support::fixtures::unique_id;
use entitle_test_support::jwt::rs256;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_first_checkouts_of_one_new_user_make_one_stripe_customer() {
    let app = TestApp::spawn().await;
    let token = app.token();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (deps, token) = (app.deps.clone(), token.clone());
            tokio::spawn(async move {
                call(
                    &deps,
                    "POST",
                    "/checkout",
                    Some(checkout_body("starter_monthly")),
                    &token,
                )
                .await
            })
        })
        .collect();
    let mut customers = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        customers.push(reply.body["customerId"].as_str().unwrap().to_owned());
    }
    customers.dedup();
    assert_eq!(customers.len(), 1, "every checkout used the same customer");
    assert_eq!(app.stripe_customers().len(), 1);
    assert_eq!(app.jwks.hits(), 1, "the JWKS was fetched once and cached");
}

#[tokio::test]
async fn a_checkout_session_carries_the_user_on_the_session_and_on_the_subscription() {
    let app = TestApp::spawn().await;
    let reply = app
        .call("POST", "/checkout", Some(checkout_body("starter_monthly")))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body["url"]
        .as_str()
        .unwrap()
        .starts_with("https://checkout.stripe.com/"));
    let create = app
        .stripe
        .requests()
        .into_iter()
        .find(|r| r["method"] == "POST" && r["path"] == "/v1/checkout/sessions")
        .expect("a session was created");
    let params = &create["params"];
    assert_eq!(params["mode"], "subscription");
    assert_eq!(params["customer"], reply.body["customerId"]);
    assert_eq!(params["client_reference_id"], app.user_id.as_str());
    assert_eq!(params["metadata"]["userId"], app.user_id.as_str());
    assert_eq!(
        params["subscription_data"]["metadata"]["userId"],
        app.user_id.as_str()
    );
    assert_eq!(
        params["line_items"][0]["price"],
        "price_local_starter_monthly"
    );
    assert!(params.get("customer_email").is_none());
    assert!(create["idempotencyKey"]
        .as_str()
        .unwrap()
        .starts_with("entitle-checkout-"));
}

#[tokio::test]
async fn a_credit_pack_by_lookup_key_is_a_payment_carrying_the_user_on_the_payment_intent() {
    let app = TestApp::spawn().await;
    let mut body = checkout_body("credits_1000");
    body["quantity"] = 2.into();
    let reply = app.call("POST", "/checkout", Some(body)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let create = app
        .stripe
        .requests()
        .into_iter()
        .find(|r| r["path"] == "/v1/checkout/sessions")
        .unwrap();
    assert_eq!(create["params"]["mode"], "payment");
    assert_eq!(
        create["params"]["line_items"][0]["price"],
        "price_credits1000"
    );
    assert_eq!(create["params"]["line_items"][0]["quantity"], "2");
    assert_eq!(
        create["params"]["payment_intent_data"]["metadata"]["userId"],
        app.user_id.as_str()
    );
}

#[tokio::test]
async fn a_user_with_a_live_subscription_is_sent_to_the_portal_instead() {
    let app = TestApp::spawn().await;
    let first = app
        .call("POST", "/checkout", Some(checkout_body("starter_monthly")))
        .await;
    let customer = first.body["customerId"].as_str().unwrap();
    app.stripe.seed_subscription(json!({
        "customer": customer, "price": "price_local_starter_monthly", "quantity": 1, "status": "active"
    }));
    let reply = app
        .call("POST", "/checkout", Some(checkout_body("pro_monthly")))
        .await;
    assert_eq!(
        (reply.status, reply.body["error"]["code"].as_str()),
        (409, Some("subscription_exists"))
    );
    let portal = app
        .call(
            "POST",
            "/portal",
            Some(json!({"returnUrl": format!("{APP}/account")})),
        )
        .await;
    assert_eq!(portal.status, 200);
    assert!(portal.body["url"]
        .as_str()
        .unwrap()
        .starts_with("https://billing.stripe.com/"));
    // On Entitle's own configuration, never the account's default (a fresh account has none).
    let sessions: Vec<_> = app
        .stripe
        .requests()
        .into_iter()
        .filter(|r| r["path"] == "/v1/billing_portal/sessions")
        .collect();
    assert!(
        sessions[0]["params"]["configuration"]
            .as_str()
            .is_some_and(|c| c.starts_with("bpc_")),
        "{sessions:?}"
    );
}

#[tokio::test]
async fn the_local_stripe_refuses_a_portal_session_without_a_configuration_on_a_fresh_account() {
    let app = TestApp::spawn().await;
    let first = app
        .call("POST", "/checkout", Some(checkout_body("starter_monthly")))
        .await;
    let customer = first.body["customerId"].as_str().unwrap();
    let client = entitle_core::stripe::StripeClient::new(
        secrecy::SecretString::from(app.stripe.api_key.clone()),
        app.stripe.base_url.clone(),
    );
    let refused = client
        .post_form(
            "/v1/billing_portal/sessions",
            &[("customer", customer.to_owned())],
            &entitle_test_support::fixtures::unique_id("portal-"),
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(entitle_domain::ports::StripeError::Rejected { status: 400, .. })
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn entitlements_come_from_the_table_in_one_read() {
    let app = TestApp::spawn().await;
    let free = app.call("GET", "/entitlements", None).await;
    assert_eq!(
        (free.status, free.body["plan"].as_str()),
        (200, Some("free"))
    );
    let user = SubjectId::parse(app.user_id.as_str()).unwrap();
    let mut stored = Entitlements::on_plan(
        user,
        PlanCatalog::builtin().plan("starter").unwrap(),
        Status::Active,
    );
    stored.period_end = Some(UnixTime::from_secs(UnixTime::now().secs() + 86_400).to_rfc3339());
    app.entitlements.put(&stored).await.unwrap();
    // The balance lives in the usage table (the one usage-api spends); the row's copy is not what is read.
    app.buy_credits(2000, &unique_id("cs_")).await;
    let reply = app.call("GET", "/entitlements", None).await;
    assert_eq!(reply.body["plan"], "starter");
    assert_eq!(reply.body["status"], "active");
    assert_eq!(reply.body["credits"], 2000);
    assert_eq!(reply.body["limits"]["agents"], 3);
    // The words of what it grants (the catalog's [features] and limit names), beside the identifiers.
    assert_eq!(reply.body["words"]["features"]["api_access"], "API access");
    assert_eq!(reply.body["words"]["limits"]["agents"]["name"], "Agents");
    assert_eq!(
        reply.body["words"]["limits"]["agents"]["unit"]["other"],
        "agents"
    );
    assert_eq!(reply.body["words"]["limits"]["credits"]["name"], "Credits");
    let granted: Vec<&str> = reply.body["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    let named: Vec<&str> = reply.body["words"]["features"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(named, granted, "names for exactly the features granted");
    assert!(reply.body["words"]["features"].get("sso").is_none());
}

#[tokio::test]
async fn tokens_from_the_wrong_issuer_party_or_key_id_are_401s_and_bogus_kids_cannot_hammer_the_jwks(
) {
    let app = TestApp::spawn().await;
    let now = UnixTime::now().secs();
    let claims = |iss: &str, azp: &str| json!({"sub": app.user_id, "iss": iss, "azp": azp, "exp": now + 60, "nbf": now - 5});
    let mut bad = vec![
        rs256(&claims("https://evil.example", APP), "test-key-1"),
        rs256(&claims(ISSUER, "https://evil.example"), "test-key-1"),
    ];
    for i in 0..10 {
        bad.push(rs256(&claims(ISSUER, APP), &format!("bogus-{i}")));
    }
    for token in &bad {
        let reply = call(&app.deps, "GET", "/entitlements", None, token).await;
        assert_eq!(reply.status, 401);
    }
    assert!(
        app.jwks.hits() <= 2,
        "unknown kids refetch the JWKS at most once per interval"
    );
    assert_eq!(app.call("GET", "/entitlements", None).await.status, 200);
}

#[tokio::test]
async fn a_user_whose_entitlements_come_from_a_subscription_on_another_customer_cannot_check_out_a_second_plan(
) {
    let app = TestApp::spawn().await;
    let sub = app.stripe.seed_subscription(json!({
        "customer": "cus_elsewhere", "price": "price_local_starter_monthly", "quantity": 1,
        "status": "active", "metadata": {"userId": app.user_id}
    }));
    let mut stored = Entitlements::on_plan(
        SubjectId::parse(app.user_id.as_str()).unwrap(),
        PlanCatalog::builtin().plan("starter").unwrap(),
        Status::Active,
    );
    stored.subscription_id = Some(sub["id"].as_str().unwrap().to_owned());
    app.entitlements.put(&stored).await.unwrap();
    let reply = app
        .call("POST", "/checkout", Some(checkout_body("pro_monthly")))
        .await;
    assert_eq!(
        (reply.status, reply.body["error"]["code"].as_str()),
        (409, Some("subscription_exists"))
    );
    assert!(!app
        .stripe
        .requests()
        .iter()
        .any(|r| r["path"] == "/v1/checkout/sessions"));
}

/// The built-in catalog with a 14-day trial on Starter monthly that needs no card.
fn catalog_with_a_trial() -> PlanCatalog {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/plans.toml"
    ))
    .unwrap()
    .replace(
        "lookup_key = \"starter_monthly\"\n",
        "lookup_key = \"starter_monthly\"\ntrial_days = 14\ntrial_requires_payment_method = false\n",
    );
    PlanCatalog::parse(&text).unwrap()
}

#[tokio::test]
async fn a_catalog_trial_reaches_stripe_checkout_with_the_payment_method_rule() {
    let app = TestApp::spawn_with(catalog_with_a_trial()).await;
    let reply = app
        .call("POST", "/checkout", Some(checkout_body("starter_monthly")))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let create = app
        .stripe
        .requests()
        .into_iter()
        .find(|r| r["path"] == "/v1/checkout/sessions")
        .unwrap();
    let params = &create["params"];
    assert_eq!(params["subscription_data"]["trial_period_days"], "14");
    assert_eq!(
        params["subscription_data"]["trial_settings"]["end_behavior"]["missing_payment_method"],
        "cancel"
    );
    assert_eq!(params["payment_method_collection"], "if_required");
    // A price without a trial sends none.
    let pro = app
        .call("POST", "/checkout", Some(checkout_body("pro_monthly")))
        .await;
    assert_eq!(pro.status, 200, "{}", pro.body);
    let create = app
        .stripe
        .requests()
        .into_iter()
        .rfind(|r| r["path"] == "/v1/checkout/sessions")
        .unwrap();
    assert!(create["params"]["subscription_data"]
        .get("trial_period_days")
        .is_none());
    assert!(create["params"].get("payment_method_collection").is_none());
}

#[tokio::test]
async fn the_plans_page_data_is_served_without_a_session() {
    let app = TestApp::spawn().await;
    let reply = app.call("GET", "/plans", None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["plans"][0]["default"], true);
    assert!(reply.body["creditPacks"]
        .as_array()
        .is_some_and(|p| !p.is_empty()));
    // Words for people: every feature a plan grants has a name and a description, every limit a name and a unit.
    let features = &reply.body["features"];
    for plan in reply.body["plans"].as_array().unwrap() {
        for feature in plan["features"].as_array().unwrap() {
            let words = &features[feature.as_str().unwrap()];
            assert!(
                words["name"].as_str().is_some_and(|n| !n.is_empty()),
                "{feature}"
            );
            assert!(
                words["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{feature}"
            );
        }
    }
    assert_eq!(features["sso"]["name"], "Single sign-on (SSO)");
    assert_eq!(
        reply.body["limits"]["messages_per_day"]["name"],
        "Messages a day"
    );
    assert_eq!(
        reply.body["limits"]["messages_per_day"]["unit"],
        json!({"one": "message", "other": "messages"})
    );
}

/// The built-in catalog with overage on Starter's messages: 1 cent per 100 beyond the 1,000 included.
fn catalog_with_overage() -> PlanCatalog {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/plans.toml"
    ))
    .unwrap()
    .replacen(
        "agents = 3\nmessages_per_day = 1_000\n",
        "agents = 3\nmessages_per_day = 1_000\n[plans.overage]\nmessages_per_day = { unit_amount = 1, per = 100, currency = \"usd\" }\n",
        1,
    );
    PlanCatalog::parse(&text).unwrap()
}

#[tokio::test]
async fn a_plan_with_overage_is_checked_out_with_its_metered_price_and_no_quantity_on_it() {
    let app = TestApp::spawn_with(catalog_with_overage()).await;
    // What `entitle catalog apply` leaves in Stripe for it: a meter and a metered price holding the key.
    let client = entitle_core::stripe::StripeClient::new(
        secrecy::SecretString::from(app.stripe.api_key.clone()),
        app.stripe.base_url.clone(),
    );
    let product = client
        .post_form("/v1/products", &[("name", "Starter".into())], "t-product")
        .await
        .unwrap();
    let meter = client
        .post_form(
            "/v1/billing/meters",
            &[
                ("display_name", "Messages per day".into()),
                ("event_name", "entitle_messages_per_day".into()),
                ("default_aggregation[formula]", "sum".into()),
            ],
            "t-meter",
        )
        .await
        .unwrap();
    let metered = client
        .post_form(
            "/v1/prices",
            &[
                ("product", product["id"].as_str().unwrap().into()),
                ("currency", "usd".into()),
                ("unit_amount", "1".into()),
                ("recurring[interval]", "month".into()),
                ("recurring[usage_type]", "metered".into()),
                ("recurring[meter]", meter["id"].as_str().unwrap().into()),
                ("transform_quantity[divide_by]", "100".into()),
                ("transform_quantity[round]", "up".into()),
                (
                    "lookup_key",
                    "starter_messages_per_day_overage_month".into(),
                ),
            ],
            "t-price",
        )
        .await
        .unwrap();
    assert_eq!(metered["transform_quantity"]["round"], "up");

    let reply = app
        .call("POST", "/checkout", Some(checkout_body("starter_monthly")))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let create = app
        .stripe
        .requests()
        .into_iter()
        .find(|r| r["path"] == "/v1/checkout/sessions")
        .unwrap();
    let lines = &create["params"]["line_items"];
    assert_eq!(lines[0]["price"], "price_local_starter_monthly");
    assert_eq!(lines[0]["quantity"], "1");
    assert_eq!(lines[1]["price"], metered["id"]);
    assert!(
        lines[1].get("quantity").is_none(),
        "a metered price takes no quantity: {lines}"
    );
    assert!(lines.get(2).is_none(), "{lines}");
    let session = reply.body["sessionId"].as_str().unwrap();
    let items = client
        .get(&format!("/v1/checkout/sessions/{session}/line_items"))
        .await
        .unwrap();
    let items = items["data"].as_array().unwrap();
    assert_eq!(items.len(), 2, "the local Stripe accepted both: {items:?}");
    assert!(items
        .iter()
        .any(|i| i["price"]["id"] == metered["id"] && i["quantity"].is_null()));

    // A plan without overage gets its price alone.
    let other = TestApp::spawn_with(catalog_with_overage()).await;
    let pro = other
        .call("POST", "/checkout", Some(checkout_body("pro_monthly")))
        .await;
    assert_eq!(pro.status, 200, "{}", pro.body);
    let create = other
        .stripe
        .requests()
        .into_iter()
        .find(|r| r["path"] == "/v1/checkout/sessions")
        .unwrap();
    assert!(create["params"]["line_items"].get(1).is_none());
}
