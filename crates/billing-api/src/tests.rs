//! The API with fakes at the ports, and HS256 session tokens (`JWT_SECRET` mode) from test-support.
use crate::deps::{ApiConfig, Deps};
use crate::redirect::AllowedOrigins;
use crate::router::{handle_at, MAX_BODY_BYTES};
use entitle_core::auth::Verifier;
use entitle_domain::entitlements::{Entitlements, Status};
use entitle_domain::fakes::{InMemoryCustomerDirectory, InMemoryStripe, InMemoryUsage};
use entitle_domain::ids::UserId;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::usage::{CounterKey, UsageStore};
use entitle_domain::time::UnixTime;
use entitle_domain::usage::decision::add_credits;
use entitle_test_support::http::RequestSpec;
use entitle_test_support::jwt;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const SECRET: &str = "test-shared-secret-for-hs256-mode";
const ISSUER: &str = "https://clerk.example.com";
const NOW: i64 = 1_795_341_600;
const USER: &str = "user_2abcDEFghiJKLmnoPQRstuVWxyz";
const APP: &str = "https://app.example.com";

struct Harness {
    deps: Deps,
    stripe: Arc<InMemoryStripe>,
    /// The entitlements rows and the usage counters (the live credits balance).
    usage: Arc<InMemoryUsage>,
}

fn harness() -> Harness {
    let stripe = Arc::new(InMemoryStripe::default());
    stripe.add_price("credits_1000", "price_credits1000");
    stripe.add_price("credits_5000", "price_credits5000");
    stripe.add_price("starter_yearly", "price_starter_yearly");
    let usage = Arc::new(InMemoryUsage::default());
    let verifier = Verifier::from_config(
        Some(SecretString::from(SECRET.to_owned())),
        None,
        Some(ISSUER.to_owned()),
        None,
    )
    .unwrap();
    Harness {
        deps: Deps {
            verifier,
            catalog: PlanCatalog::builtin().clone(),
            customers: Arc::new(InMemoryCustomerDirectory::default()),
            stripe_customers: stripe.clone(),
            billing: stripe.clone(),
            usage: usage.clone(),
            config: ApiConfig {
                redirect_origins: AllowedOrigins::parse(APP),
                cors_origins: AllowedOrigins::parse(APP),
            },
            price_ids: Mutex::new(HashMap::new()),
        },
        stripe,
        usage,
    }
}

/// Credits bought: what the processor adds to the usage table's balance.
async fn buy_credits(h: &Harness, n: i64) {
    let key = CounterKey {
        user: UserId::parse(USER).unwrap(),
        name: "credits".into(),
        expires_at: None,
    };
    h.usage.write(&key, &add_credits(n), None).await.unwrap();
}

fn token_with(claims: Value, secret: &str) -> String {
    jwt::hs256(secret.as_bytes(), &claims)
}

fn token() -> String {
    token_with(
        json!({"sub": USER, "iss": ISSUER, "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 60}),
        SECRET,
    )
}

async fn call(
    h: &Harness,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (u16, Value) {
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    let mut spec = RequestSpec::post(path, text.as_bytes()).method(method);
    if let Some(token) = token {
        spec = spec.header("authorization", format!("Bearer {token}"));
    }
    let response = handle_at(&h.deps, &spec.build(), UnixTime::from_secs(NOW)).await;
    let status = response.status().as_u16();
    let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    entitle_test_support::http::record_api_response(path, status, &body);
    (status, body)
}

fn checkout(price: &str) -> Value {
    json!({"price": price, "successUrl": format!("{APP}/billing/done"), "cancelUrl": format!("{APP}/pricing")})
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn every_route_refuses_a_missing_or_invalid_session_with_401_and_www_authenticate() {
    let h = harness();
    let expired = token_with(json!({"sub": USER, "iss": ISSUER, "exp": NOW - 60}), SECRET);
    let forged = token_with(
        json!({"sub": USER, "iss": ISSUER, "exp": NOW + 60}),
        "another-secret",
    );
    let wrong_issuer = token_with(
        json!({"sub": USER, "iss": "https://evil.example", "exp": NOW + 60}),
        SECRET,
    );
    for (method, path) in [
        ("POST", "/checkout"),
        ("POST", "/portal"),
        ("GET", "/entitlements"),
        ("GET", "/usage"),
    ] {
        for token in [
            None,
            Some("garbage"),
            Some(expired.as_str()),
            Some(forged.as_str()),
            Some(wrong_issuer.as_str()),
        ] {
            let request = {
                let mut spec = RequestSpec::post(path, b"{}").method(method);
                if let Some(t) = token {
                    spec = spec.header("authorization", format!("Bearer {t}"));
                }
                spec.build()
            };
            let response = handle_at(&h.deps, &request, UnixTime::from_secs(NOW)).await;
            assert_eq!(response.status().as_u16(), 401, "{method} {path} {token:?}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
            assert_eq!(code(&body), "unauthorized");
        }
    }
    assert!(h.stripe.calls().is_empty());
}

#[tokio::test]
async fn the_session_cookie_is_accepted_like_a_bearer_token() {
    let h = harness();
    let request = RequestSpec::post("/entitlements", b"")
        .method("GET")
        .header("cookie", format!("theme=dark; __session={}", token()))
        .build();
    let response = handle_at(&h.deps, &request, UnixTime::from_secs(NOW)).await;
    assert_eq!(response.status().as_u16(), 200);
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
    assert_eq!(sessions[0].price_id, "price_1StarterMonthlyKx7Yz2LmNo");
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
async fn the_portal_needs_a_customer_and_then_returns_its_url() {
    let h = harness();
    let body = json!({"returnUrl": format!("{APP}/account")});
    let (status, reply) = call(&h, "POST", "/portal", Some(body.clone()), Some(&token())).await;
    assert_eq!((status, code(&reply)), (404, "no_customer"));
    call(
        &h,
        "POST",
        "/checkout",
        Some(checkout("starter_monthly")),
        Some(&token()),
    )
    .await;
    let (status, reply) = call(&h, "POST", "/portal", Some(body), Some(&token())).await;
    assert_eq!(status, 200);
    assert!(reply["url"]
        .as_str()
        .unwrap()
        .starts_with("https://billing.stripe.com/"));
}

#[tokio::test]
async fn entitlements_are_the_free_plan_until_something_is_stored() {
    let h = harness();
    let (status, body) = call(&h, "GET", "/entitlements", None, Some(&token())).await;
    assert_eq!(status, 200);
    assert_eq!(body["plan"], "free");
    assert_eq!(body["status"], "free");
    assert_eq!(body["userId"], USER);
    assert_eq!(body["credits"], 0);
    assert!(body["limits"].as_object().is_some_and(|l| !l.is_empty()));
}

#[tokio::test]
async fn stored_entitlements_are_returned_and_an_expired_grace_period_reads_as_free() {
    let h = harness();
    let catalog = PlanCatalog::builtin();
    let user = UserId::parse(USER).unwrap();
    let pro = Entitlements::on_plan(
        user.clone(),
        catalog.plan("professional").unwrap(),
        Status::Active,
    );
    buy_credits(&h, 1500).await;
    h.usage.put_entitlements(pro);
    let (_, body) = call(&h, "GET", "/entitlements", None, Some(&token())).await;
    assert_eq!(
        (body["plan"].as_str(), body["credits"].as_i64()),
        (Some("professional"), Some(1500))
    );

    let mut late =
        Entitlements::on_plan(user, catalog.plan("professional").unwrap(), Status::PastDue);
    late.grace_until = Some(UnixTime::from_secs(NOW - 1).to_rfc3339());
    h.usage.put_entitlements(late);
    let (_, body) = call(&h, "GET", "/entitlements", None, Some(&token())).await;
    assert_eq!(
        (body["plan"].as_str(), body["status"].as_str()),
        (Some("free"), Some("free"))
    );
    assert_eq!(body["credits"], 1500, "credits outlive the plan");
}

#[tokio::test]
async fn usage_shows_the_signed_in_users_counters_allowances_periods_and_credit_balance() {
    use entitle_domain::usage::{account, decision, LimitKind, Period};
    let h = harness();
    let user = UserId::parse(USER).unwrap();
    let now = UnixTime::from_secs(NOW);
    let catalog = PlanCatalog::builtin();
    h.usage.put_entitlements(Entitlements::on_plan(
        user.clone(),
        catalog.plan("professional").unwrap(),
        Status::Active,
    ));
    // What usage-api records: 7 messages today, 2 agents, 40 of 250 credits.
    for (name, kind, amount) in [
        ("messages_per_day", LimitKind::Metered(Period::Day), 7),
        ("agents", LimitKind::Allocated, 2),
    ] {
        let e = h.usage.counters(&user, &[]).await.unwrap().0.unwrap();
        let (key, _) = account::counter(&user, name, kind, Some(&e), now);
        let allowance = account::allowance(catalog, &e, name);
        let counter = h.usage.counter(&user, &key.name);
        let (_, change) = decision::consume(kind, allowance, &counter, amount, None, now).unwrap();
        h.usage.write(&key, &change.unwrap(), None).await.unwrap();
    }
    buy_credits(&h, 250).await;
    buy_credits(&h, -40).await;

    let (status, body) = call(&h, "GET", "/usage", None, Some(&token())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["userId"].as_str(), body["plan"].as_str()),
        (Some(USER), Some("professional"))
    );
    let of = |feature: &str| {
        body["usage"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["feature"] == feature)
            .cloned()
            .unwrap_or_else(|| panic!("{feature} in {body}"))
    };
    let messages = of("messages_per_day");
    assert_eq!(
        (
            &messages["kind"],
            &messages["limit"],
            &messages["used"],
            &messages["remaining"]
        ),
        (&json!("metered"), &json!(10_000), &json!(7), &json!(9_993))
    );
    let midnight = UnixTime::from_secs(NOW - NOW % 86_400 + 86_400).to_rfc3339();
    assert_eq!(messages["resetsAt"], midnight.as_str());
    let agents = of("agents");
    assert_eq!(
        (&agents["used"], &agents["remaining"]),
        (&json!(2), &json!(8))
    );
    assert_eq!(agents["resetsAt"], Value::Null);
    let credits = of("credits");
    assert_eq!(
        (&credits["kind"], &credits["limit"], &credits["remaining"]),
        (&json!("credits"), &Value::Null, &json!(210))
    );
    // GET /entitlements reports the same live balance.
    let (_, e) = call(&h, "GET", "/entitlements", None, Some(&token())).await;
    assert_eq!(e["credits"], 210);
}

#[tokio::test]
async fn a_store_outage_answers_503_on_usage_and_entitlements_and_usage_takes_only_get() {
    let h = harness();
    h.usage
        .down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    for path in ["/usage", "/entitlements"] {
        let (status, body) = call(&h, "GET", path, None, Some(&token())).await;
        assert_eq!((status, code(&body)), (503, "unavailable"), "{path}");
    }
    let (status, _) = call(&h, "POST", "/usage", Some(json!({})), Some(&token())).await;
    assert_eq!(status, 405, "browsers never consume");
}

#[tokio::test]
async fn cors_preflights_from_allowed_origins_are_answered_and_others_get_no_grant() {
    let h = harness();
    for (origin, granted) in [(APP, true), ("https://evil.example", false)] {
        let request = RequestSpec::post("/checkout", b"")
            .method("OPTIONS")
            .header("origin", origin)
            .build();
        let response = handle_at(&h.deps, &request, UnixTime::from_secs(NOW)).await;
        assert_eq!(response.status().as_u16(), 204);
        let headers = response.headers();
        assert_eq!(
            headers.get("access-control-allow-origin").is_some(),
            granted,
            "{origin}"
        );
        assert_eq!(
            headers.get("access-control-allow-methods").is_some(),
            granted
        );
    }
    let request = RequestSpec::post("/entitlements", b"")
        .method("GET")
        .header("origin", APP)
        .header("authorization", format!("Bearer {}", token()))
        .build();
    let response = handle_at(&h.deps, &request, UnixTime::from_secs(NOW)).await;
    assert_eq!(response.headers()["access-control-allow-origin"], APP);
}

#[tokio::test]
async fn wrong_methods_unknown_routes_big_and_malformed_bodies_get_clear_errors() {
    let h = harness();
    let response = handle_at(
        &h.deps,
        &RequestSpec::post("/entitlements", b"{}").build(),
        UnixTime::from_secs(NOW),
    )
    .await;
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "GET");
    assert_eq!(
        call(&h, "GET", "/nothing-here", None, Some(&token()))
            .await
            .0,
        404
    );
    let (status, reply) = call(
        &h,
        "POST",
        "/checkout",
        Some(json!("x".repeat(MAX_BODY_BYTES))),
        Some(&token()),
    )
    .await;
    assert_eq!((status, code(&reply)), (413, "payload_too_large"));
    let (status, reply) = call(
        &h,
        "POST",
        "/checkout",
        Some(json!({"price": 5})),
        Some(&token()),
    )
    .await;
    assert_eq!((status, code(&reply)), (400, "malformed_body"));
    // Any path prefix works.
    assert_eq!(
        call(&h, "GET", "/prod/entitlements", None, Some(&token()))
            .await
            .0,
        200
    );
}
