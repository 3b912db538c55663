//! The API with fakes at the ports, and HS256 session tokens (`JWT_SECRET` mode) from test-support.

mod auth;
mod checkout;
mod entitlements;
mod organizations;
mod plans;
mod portal;
mod router;
mod subscription;
mod usage;

use crate::billing_api::deps::{ApiConfig, Deps};
use crate::billing_api::redirect::AllowedOrigins;
use crate::billing_api::router::handle_at;
use entitle_core::auth::Verifier;
use entitle_domain::entitlements::{Entitlements, Status};
use entitle_domain::fakes::{
    InMemoryCustomerDirectory, InMemoryEntitlementStore, InMemoryEntitlements, InMemoryMembers,
    InMemoryStripe, InMemoryUsage,
};
use entitle_domain::ids::SubjectId;
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
    /// Clerk's organization memberships, for the permission checks.
    members: Arc<InMemoryMembers>,
    /// The entitlements' versions (`GET /entitlements/history`).
    history: Arc<InMemoryEntitlementStore>,
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
    let history = Arc::new(InMemoryEntitlementStore::default());
    let members = Arc::new(InMemoryMembers::default());
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
            history: history.clone(),
            members: Some(members.clone()),
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
        members,
        history,
    }
}

/// Credits bought: what the processor adds to the usage table's balance.
async fn buy_credits(h: &Harness, n: i64) {
    let key = CounterKey {
        user: SubjectId::parse(USER).unwrap(),
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
    entitle_test_support::http::record_request(method, path, &text, status);
    (status, body)
}

fn checkout(price: &str) -> Value {
    json!({"price": price, "successUrl": format!("{APP}/billing/done"), "cancelUrl": format!("{APP}/pricing")})
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

// ---------------------------------------------------------------- /subscription/*

const STARTER: &str = "price_local_starter_monthly";
const PRO: &str = "price_local_pro_monthly";

/// The built-in catalog with its monthly prices also named by id, as a team with existing prices writes it.
fn catalog_naming_prices_by_id() -> PlanCatalog {
    let text = include_str!("../../../../../config/plans.toml")
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
    let user = SubjectId::parse(USER).unwrap();
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

/// The built-in catalog with overage on Starter's messages (1 cent per 100 beyond the included 1,000).
fn catalog_with_overage() -> PlanCatalog {
    let text = include_str!("../../../../../config/plans.toml").replacen(
        "agents = 3\nmessages_per_day = 1_000\n",
        "agents = 3\nmessages_per_day = 1_000\n[plans.overage]\nmessages_per_day = { unit_amount = 1, per = 100, currency = \"usd\" }\n",
        1,
    );
    PlanCatalog::parse(&text).unwrap()
}
