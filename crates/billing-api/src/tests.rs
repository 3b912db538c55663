//! The API with fakes at the ports, and HS256 session tokens (`JWT_SECRET` mode) from test-support.
use crate::deps::{ApiConfig, Deps};
use crate::redirect::AllowedOrigins;
use crate::router::{handle_at, MAX_BODY_BYTES};
use entitle_core::auth::Verifier;
use entitle_domain::entitlements::{Entitlements, Status};
use entitle_domain::fakes::{
    InMemoryCustomerDirectory, InMemoryEntitlements, InMemoryStripe, InMemoryUsage,
};
use entitle_domain::ids::UserId;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::usage::{CounterKey, UsageStore};
use entitle_domain::ports::ItemDetails;
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
    /// The entitlements rows as checkout and the lifecycle routes read them.
    entitlements: Arc<InMemoryEntitlements>,
}

fn harness() -> Harness {
    let stripe = Arc::new(InMemoryStripe::default());
    stripe.add_price("credits_1000", "price_credits1000");
    stripe.add_price("credits_5000", "price_credits5000");
    stripe.add_price("starter_yearly", "price_starter_yearly");
    // The catalog names its prices by lookup key only: Stripe resolves them.
    stripe.add_price("starter_monthly", STARTER);
    stripe.add_price("pro_monthly", PRO);
    let usage = Arc::new(InMemoryUsage::default());
    let entitlements = Arc::new(InMemoryEntitlements::default());
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
            lifecycle: stripe.clone(),
            entitlements: entitlements.clone(),
            config: ApiConfig {
                redirect_origins: AllowedOrigins::parse(APP),
                cors_origins: AllowedOrigins::parse(APP),
            },
            price_ids: Mutex::new(HashMap::new()),
            portal_configuration: Mutex::new(None),
        },
        stripe,
        usage,
        entitlements,
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
    call_at(h, method, path, body, token, NOW).await
}

async fn call_at(
    h: &Harness,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
    now: i64,
) -> (u16, Value) {
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    let mut spec = RequestSpec::post(path, text.as_bytes()).method(method);
    if let Some(token) = token {
        spec = spec.header("authorization", format!("Bearer {token}"));
    }
    let response = handle_at(&h.deps, &spec.build(), UnixTime::from_secs(now)).await;
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
        ("POST", "/subscription/cancel"),
        ("POST", "/subscription/resume"),
        ("POST", "/subscription/change"),
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
        if granted {
            // What a frontend with a tracing SDK sends must pass the preflight.
            let allowed = headers["access-control-allow-headers"].to_str().unwrap();
            for header in [
                "authorization",
                "content-type",
                "idempotency-key",
                "traceparent",
            ] {
                assert!(
                    allowed.split(", ").any(|h| h == header),
                    "{header} in {allowed}"
                );
            }
        }
    }
    let request = RequestSpec::post("/entitlements", b"")
        .method("GET")
        .header("origin", APP)
        .header("authorization", format!("Bearer {}", token()))
        .build();
    let response = handle_at(&h.deps, &request, UnixTime::from_secs(NOW)).await;
    assert_eq!(response.headers()["access-control-allow-origin"], APP);
    assert_eq!(
        response.headers()["access-control-expose-headers"],
        "etag, retry-after, www-authenticate"
    );
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

// ---------------------------------------------------------------- /subscription/*

const STARTER: &str = "price_local_starter_monthly";
const PRO: &str = "price_local_pro_monthly";

/// The built-in catalog with its monthly prices also named by id, as a team with existing prices writes it.
fn catalog_naming_prices_by_id() -> PlanCatalog {
    let text = include_str!("../../../config/plans.toml")
        .replace(
            "lookup_key = \"starter_monthly\"",
            &format!("id = \"{STARTER}\"\nlookup_key = \"starter_monthly\""),
        )
        .replace(
            "lookup_key = \"pro_monthly\"",
            &format!("id = \"{PRO}\"\nlookup_key = \"pro_monthly\""),
        );
    PlanCatalog::parse(&text).unwrap()
}
const PERIOD_END: i64 = NOW + 15 * 86_400;

/// The user with a customer and an active Starter subscription on it, as the entitlements record it.
async fn subscribed(h: &Harness) -> String {
    use entitle_domain::ids::StripeCustomerId;
    use entitle_domain::ports::SubscriptionDetails;
    let user = UserId::parse(USER).unwrap();
    let customer = StripeCustomerId::parse("cus_life1").unwrap();
    h.deps
        .customers
        .link(&user, &customer, UnixTime::from_secs(NOW))
        .await
        .unwrap();
    h.stripe.add_plan_subscription(SubscriptionDetails {
        id: "sub_life1".into(),
        customer: "cus_life1".into(),
        status: "active".into(),
        items: vec![ItemDetails::licensed(
            "si_life1",
            STARTER,
            Some("starter_monthly"),
            1,
        )],
        writes: 0,
        cancel_at_period_end: false,
        current_period_end: Some(PERIOD_END),
        trial_end: None,
        user: Some(USER.into()),
        schedule: None,
    });
    h.stripe.set_amount(STARTER, 4900);
    h.stripe.set_amount(PRO, 19900);
    let mut stored = Entitlements::on_plan(
        user,
        PlanCatalog::builtin().plan("starter").unwrap(),
        Status::Active,
    );
    stored.subscription_id = Some("sub_life1".into());
    h.entitlements.put(stored);
    "sub_life1".into()
}

async fn post(h: &Harness, path: &str, body: Option<Value>) -> (u16, Value) {
    call(h, "POST", path, body, Some(&token())).await
}

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
        .mark_deleted(&UserId::parse(USER).unwrap(), UnixTime::from_secs(NOW))
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
        UserId::parse(USER).unwrap(),
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
async fn a_checkout_is_refused_when_the_entitlements_hold_a_live_subscription_from_another_customer(
) {
    let h = harness();
    let mut stored = Entitlements::on_plan(
        UserId::parse(USER).unwrap(),
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
    let text = include_str!("../../../config/plans.toml").replace(
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

#[test]
fn a_catalog_trial_must_be_on_a_recurring_price_and_within_stripes_bounds() {
    let base = include_str!("../../../config/plans.toml");
    for (from, to) in [
        (
            "lookup_key = \"pro_monthly\"\n",
            "lookup_key = \"pro_monthly\"\ntrial_days = 0\n",
        ),
        (
            "lookup_key = \"pro_monthly\"\n",
            "lookup_key = \"pro_monthly\"\ntrial_days = 731\n",
        ),
        (
            "lookup_key = \"pro_monthly\"\n",
            "lookup_key = \"pro_monthly\"\ntrial_requires_payment_method = false\n",
        ),
        (
            "lookup_key = \"credits_1000\"\n",
            "lookup_key = \"credits_1000\"\ntrial_days = 7\n",
        ),
    ] {
        let error = PlanCatalog::parse(&base.replacen(from, to, 1)).unwrap_err();
        assert!(error.to_string().contains("trial"), "{to}: {error}");
    }
}

#[tokio::test]
async fn an_addon_is_sold_beside_a_live_plan_and_never_as_a_plan_change() {
    let h = harness();
    h.stripe.add_price("team_pack_monthly", "price_team_pack");
    let mut stored = Entitlements::on_plan(
        UserId::parse(USER).unwrap(),
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
        UserId::parse(USER).unwrap(),
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
async fn the_plans_are_public_cacheable_and_answer_304_to_their_etag() {
    let h = harness();
    let request = RequestSpec::post("/plans", b"").method("GET").build();
    let response = handle_at(&h.deps, &request, UnixTime::from_secs(NOW)).await;
    assert_eq!(response.status().as_u16(), 200, "no session token needed");
    let headers = response.headers();
    assert_eq!(headers["cache-control"], "public, max-age=300");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    let ids: Vec<&str> = body["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["free", "starter", "professional", "enterprise", "team_pack"]
    );
    let starter = &body["plans"][1];
    assert_eq!(starter["limits"]["messages_per_day"], 1000);
    assert_eq!(starter["prices"][0]["lookupKey"], "starter_monthly");
    assert_eq!(
        (
            starter["prices"][0]["amount"].as_u64(),
            starter["prices"][0]["interval"].as_str()
        ),
        (Some(4900), Some("month"))
    );
    assert_eq!(body["plans"][4]["addon"], true);
    assert_eq!(body["creditPacks"][0]["credits"], 1000);
    assert_eq!(body["limits"]["messages_per_day"]["resets"], "day");
    assert_eq!(body["limits"]["credits"]["lowThreshold"], 100);

    let again = RequestSpec::post("/plans", b"")
        .method("GET")
        .header("if-none-match", etag.clone())
        .build();
    let response = handle_at(&h.deps, &again, UnixTime::from_secs(NOW)).await;
    assert_eq!(response.status().as_u16(), 304);
    assert!(response.body().is_empty());
    assert_eq!(response.headers()["etag"].to_str().unwrap(), etag);
    let stale = RequestSpec::post("/plans", b"")
        .method("GET")
        .header("if-none-match", "\"something-else\"")
        .build();
    let response = handle_at(&h.deps, &stale, UnixTime::from_secs(NOW)).await;
    assert_eq!(response.status().as_u16(), 200);

    let (status, body) = call(&h, "POST", "/plans", None, None).await;
    assert_eq!((status, code(&body)), (405, "method_not_allowed"));
    assert!(
        h.stripe.calls().is_empty(),
        "the catalog needs no Stripe call"
    );
}

/// The built-in catalog with overage on Starter's messages (1 cent per 100 beyond the included 1,000).
fn catalog_with_overage() -> PlanCatalog {
    let text = include_str!("../../../config/plans.toml").replacen(
        "agents = 3\nmessages_per_day = 1_000\n",
        "agents = 3\nmessages_per_day = 1_000\n[plans.overage]\nmessages_per_day = { unit_amount = 1, per = 100, currency = \"usd\" }\n",
        1,
    );
    PlanCatalog::parse(&text).unwrap()
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
