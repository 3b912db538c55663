//! Fuzz targets: each parser of outside input, reached through the handler that meets it, with fakes at
//! the ports (nothing here can fail on its own, so any 5xx is a defect: bad input must get a 4xx).
//!
//! | target | input | must answer |
//! |---|---|---|
//! | `stripe_signature` | a `Stripe-Signature` header, a newline, a body | 4xx (2xx with the body's signature) |
//! | `stripe_event` | a Stripe event body, correctly signed | 2xx or 4xx |
//! | `svix_headers` | `svix-id`, `svix-timestamp`, `svix-signature`, a body (newline-separated) | 4xx (2xx signed) |
//! | `clerk_event` | a Clerk event body, correctly signed | 2xx or 4xx |
//! | `session_token` | a session token (billing-api `GET /entitlements`) | 401 (200 for the one valid session) |
//! | `session_claims` | the claims of a token signed with the right key | 2xx or 4xx |
//! | `billing_request` | a route byte, then a request body or query (a valid session) | 2xx or 4xx |
//! | `usage_request` | a route byte, then a request body or query (a valid API key) | 2xx or 4xx |
//! | `catalog` | a catalog file | parsed or refused |
//!
//! A panic anywhere is a defect too: the driver (`src/main.rs`) and the regression tests catch it.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use entitle_app::billing_api::deps::{ApiConfig, Deps as BillingDeps};
use entitle_app::billing_api::redirect::AllowedOrigins;
use entitle_app::clerk_webhook::deps::{ClerkConfig, Deps as ClerkDeps};
use entitle_app::stripe_webhook::deps::{Deps as StripeDeps, WebhookConfig};
use entitle_app::usage_api::auth::ApiKeys;
use entitle_app::usage_api::deps::Deps as UsageDeps;
use entitle_core::auth::Verifier;
use entitle_core::webhook::svix::{self, SvixKey};
use entitle_domain::fakes::{
    InMemoryCustomerDirectory, InMemoryEntitlementStore, InMemoryEntitlements, InMemoryEventLog,
    InMemoryMembers, InMemoryStripe, InMemoryUsage, RecordingDeadLetters, RecordingPublisher,
};
use entitle_domain::plans::PlanCatalog;
use entitle_domain::time::UnixTime;
use entitle_test_support::fixtures;
use entitle_test_support::http::RequestSpec;
use entitle_test_support::jwt;
use lambda_http::{Body, Response};
use secrecy::SecretString;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const TARGETS: &[&str] = &[
    "stripe_signature",
    "stripe_event",
    "svix_headers",
    "clerk_event",
    "session_token",
    "session_claims",
    "billing_request",
    "usage_request",
    "catalog",
];

const STRIPE_SECRET: &str = "whsec_fuzz_stripe_secret";
const SVIX_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const JWT_SECRET: &str = "fuzz-shared-secret-for-hs256-mode";
const ISSUER: &str = "https://clerk.example.com";
const APP: &str = "https://app.example.com";
const USAGE_KEY: &str = "sk_usage_fuzz";
const USER: &str = "user_2fuzzFUZZfuzzFUZZfuzz";
const NOW: i64 = 1_795_341_600;

/// What one input did: the status answered (0 for a target without one) and its error code, if any. New
/// outcomes are what the driver keeps in its corpus.
pub type Outcome = (u16, String);

fn outcome(response: Response<Body>) -> Outcome {
    let status = response.status().as_u16();
    let code = serde_json::from_slice::<serde_json::Value>(response.body().as_ref())
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, code)
}

fn expect(outcome: Outcome, allowed: impl Fn(u16) -> bool) -> Result<Outcome, String> {
    match allowed(outcome.0) {
        true => Ok(outcome),
        false => Err(format!("answered {} {}", outcome.0, outcome.1)),
    }
}

fn client_error(status: u16) -> bool {
    (400..500).contains(&status)
}

fn not_ours(status: u16) -> bool {
    status < 500
}

/// A request with `body` as API Gateway delivers it: text, or base64-encoded when it is not UTF-8 (as for a
/// binary media type).
fn post<'a>(path: &'a str, body: &'a [u8]) -> RequestSpec<'a> {
    RequestSpec::post(path, body).base64(std::str::from_utf8(body).is_err())
}

/// Splits `data` at its first `n - 1` newlines.
fn fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    data.splitn(n, |b| *b == b'\n').collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A header value as a client can send one (HTTP refuses control characters before any handler runs).
fn header_value(bytes: &[u8]) -> String {
    text(bytes)
        .chars()
        .filter(|c| !c.is_control() && c.is_ascii())
        .take(4096)
        .collect()
}

fn stripe_deps() -> StripeDeps {
    StripeDeps {
        events: Arc::new(InMemoryEventLog::default()),
        publisher: Arc::new(RecordingPublisher::default()),
        config: WebhookConfig::new(vec![SecretString::from(STRIPE_SECRET.to_owned())]),
    }
}

fn clerk_deps() -> ClerkDeps {
    let stripe = Arc::new(InMemoryStripe::default());
    let key = SvixKey::parse(&SecretString::from(SVIX_SECRET.to_owned())).expect("a Svix key");
    ClerkDeps {
        events: Arc::new(InMemoryEventLog::default()),
        publisher: Arc::new(RecordingPublisher::default()),
        customers: Arc::new(InMemoryCustomerDirectory::default()),
        stripe_customers: stripe.clone(),
        lifecycle: stripe,
        dead_letters: Arc::new(RecordingDeadLetters::default()),
        config: ClerkConfig::new(vec![key]),
    }
}

fn billing_deps() -> BillingDeps {
    let stripe = Arc::new(InMemoryStripe::default());
    for (key, id) in [
        ("starter_monthly", "price_starter"),
        ("starter_yearly", "price_starter_yearly"),
        ("pro_monthly", "price_pro"),
        ("team_pack_monthly", "price_pack"),
        ("credits_1000", "price_credits1000"),
    ] {
        stripe.add_price(key, id);
    }
    let verifier = Verifier::from_config(
        Some(SecretString::from(JWT_SECRET.to_owned())),
        None,
        Some(ISSUER.to_owned()),
        None,
    )
    .expect("an HS256 verifier");
    BillingDeps {
        verifier,
        catalog: PlanCatalog::builtin().clone(),
        customers: Arc::new(InMemoryCustomerDirectory::default()),
        stripe_customers: stripe.clone(),
        billing: stripe.clone(),
        usage: Arc::new(InMemoryUsage::default()),
        lifecycle: stripe,
        entitlements: Arc::new(InMemoryEntitlements::default()),
        history: Arc::new(InMemoryEntitlementStore::default()),
        members: Some(Arc::new(InMemoryMembers::default())),
        config: ApiConfig {
            redirect_origins: AllowedOrigins::parse(APP),
            cors_origins: AllowedOrigins::parse(APP),
        },
        price_ids: Mutex::new(HashMap::new()),
        portal_configuration: Mutex::new(None),
    }
}

fn usage_deps() -> UsageDeps {
    UsageDeps {
        keys: ApiKeys::new(&SecretString::from(USAGE_KEY.to_owned())).into(),
        catalog: PlanCatalog::builtin().clone(),
        store: Arc::new(InMemoryUsage::default()),
        history: Arc::new(InMemoryEntitlementStore::default()),
        publisher: Arc::new(RecordingPublisher::default()),
    }
}

fn session() -> String {
    jwt::hs256(
        JWT_SECRET.as_bytes(),
        &json!({"sub": USER, "iss": ISSUER, "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 60}),
    )
}

const BILLING_ROUTES: &[(&str, &str)] = &[
    ("POST", "/checkout"),
    ("POST", "/portal"),
    ("POST", "/subscription/cancel"),
    ("POST", "/subscription/resume"),
    ("POST", "/subscription/change"),
    ("GET", "/entitlements"),
    ("GET", "/entitlements/history"),
    ("GET", "/usage"),
    ("GET", "/plans"),
];

const USAGE_ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/check"),
    ("POST", "/v1/usage"),
    ("POST", "/v1/usage/{id}/commit"),
    ("POST", "/v1/usage/{id}/release"),
    ("GET", "/v1/usage"),
    ("GET", "/v1/entitlements"),
    ("GET", "/v1/entitlements/history"),
    ("GET", "/v1/credits/ledger"),
];

/// A route of `routes` picked by the first byte, and the rest: a body (POST) or a query (GET). A `{id}` in
/// the path takes the rest's first line.
fn route<'a>(
    routes: &[(&'static str, &'static str)],
    data: &'a [u8],
) -> (&'static str, String, &'a [u8]) {
    let (pick, rest) = data.split_first().unwrap_or((&0, &[]));
    let (method, template) = routes[*pick as usize % routes.len()];
    if template.contains("{id}") {
        // A usage id is `u_` + base64url of `subject|counter|hold[|member]`: the line is that raw text, encoded
        // (so the parser behind the encoding is reached), unless it starts with `!` (then sent as it is).
        let parts = fields(rest, 2);
        let line = text(parts[0]);
        let id: String = match line.strip_prefix('!') {
            Some(raw) => raw
                .chars()
                .filter(|c| c.is_ascii_graphic() && !"/?#%".contains(*c))
                .take(512)
                .collect(),
            None => format!("u_{}", URL_SAFE_NO_PAD.encode(line.as_bytes())),
        };
        let id = if id.is_empty() { "x".to_owned() } else { id };
        return (
            method,
            template.replace("{id}", &id),
            parts.get(1).copied().unwrap_or_default(),
        );
    }
    if method == "GET" {
        let query: String = text(rest)
            .chars()
            .filter(|c| c.is_ascii_graphic() && *c != '#')
            .take(2048)
            .collect();
        return (method, format!("{template}?{query}"), &[]);
    }
    (method, template.to_owned(), rest)
}

/// Runs one input through `target`: `Ok` with what it did, `Err` when it broke a rule.
pub fn run(
    runtime: &tokio::runtime::Runtime,
    target: &str,
    data: &[u8],
) -> Result<Outcome, String> {
    let now = UnixTime::from_secs(NOW);
    runtime.block_on(async {
        match target {
            "stripe_signature" => {
                let parts = fields(data, 2);
                let body = parts.get(1).copied().unwrap_or_default();
                let header = header_value(parts[0]);
                let request = post("/webhooks/stripe", body)
                    .header("stripe-signature", header.clone())
                    .build();
                let deps = stripe_deps();
                let answer =
                    entitle_app::stripe_webhook::handler::handle_at(&deps, &request, now).await;
                // Taken only with the body's real signature in the header; refused (4xx) otherwise.
                let good = entitle_core::stripe::signature::sign(body, STRIPE_SECRET, NOW);
                let v1 = good
                    .split(',')
                    .find(|p| p.starts_with("v1="))
                    .unwrap_or_default();
                let signed = header.contains(&format!("t={NOW}")) && header.contains(v1);
                expect(outcome(answer), |s| {
                    client_error(s) || (signed && (200..300).contains(&s))
                })
            }
            "stripe_event" => {
                let signature = entitle_core::stripe::signature::sign(data, STRIPE_SECRET, NOW);
                let request = post("/webhooks/stripe", data)
                    .header("stripe-signature", signature)
                    .build();
                let deps = stripe_deps();
                let answer =
                    entitle_app::stripe_webhook::handler::handle_at(&deps, &request, now).await;
                expect(outcome(answer), not_ours)
            }
            "svix_headers" => {
                let parts = fields(data, 4);
                let get = |i: usize| header_value(parts.get(i).copied().unwrap_or_default());
                let body = parts.get(3).copied().unwrap_or_default();
                let request = post("/webhooks/clerk", body)
                    .header("svix-id", get(0))
                    .header("svix-timestamp", get(1))
                    .header("svix-signature", get(2))
                    .build();
                let deps = clerk_deps();
                let answer =
                    entitle_app::clerk_webhook::handler::handle_at(&deps, &request, now).await;
                // Taken only with the real signature of (id, timestamp, body); refused (4xx) otherwise.
                let good = svix::sign(body, SVIX_SECRET, get(0).trim(), NOW);
                let signed = get(1).trim() == NOW.to_string()
                    && good.split(' ').any(|g| get(2).split(' ').any(|s| s == g));
                expect(outcome(answer), |s| {
                    client_error(s) || (signed && (200..300).contains(&s))
                })
            }
            "clerk_event" => {
                let signature = svix::sign(data, SVIX_SECRET, "msg_fuzz", NOW);
                let request = post("/webhooks/clerk", data)
                    .header("svix-id", "msg_fuzz")
                    .header("svix-timestamp", NOW.to_string())
                    .header("svix-signature", signature)
                    .build();
                let deps = clerk_deps();
                let answer =
                    entitle_app::clerk_webhook::handler::handle_at(&deps, &request, now).await;
                expect(outcome(answer), not_ours)
            }
            "session_token" => {
                let request = post("/entitlements", b"")
                    .method("GET")
                    .header("authorization", format!("Bearer {}", header_value(data)))
                    .header("origin", APP)
                    .build();
                let deps = billing_deps();
                let answer =
                    entitle_app::billing_api::router::handle_at(&deps, &request, now).await;
                // Only the one valid session is taken.
                let valid = header_value(data) == session();
                expect(outcome(answer), |s| s == 401 || (valid && s == 200))
            }
            "session_claims" => {
                // Claims as JSON, signed with the right key: the checks after the signature (issuer, times,
                // the subject, the organization claims) meet whatever a token can carry.
                let Ok(claims) = serde_json::from_slice::<serde_json::Value>(data) else {
                    return Ok((0, "not JSON".into()));
                };
                let token = jwt::hs256(JWT_SECRET.as_bytes(), &claims);
                let request = post("/entitlements", b"")
                    .method("GET")
                    .header("authorization", format!("Bearer {token}"))
                    .header("origin", APP)
                    .build();
                let deps = billing_deps();
                let answer =
                    entitle_app::billing_api::router::handle_at(&deps, &request, now).await;
                expect(outcome(answer), not_ours)
            }
            "billing_request" => {
                let (method, path, body) = route(BILLING_ROUTES, data);
                let request = post(&path, body)
                    .method(method)
                    .header("authorization", format!("Bearer {}", session()))
                    .header("origin", APP)
                    .build();
                let deps = billing_deps();
                let answer =
                    entitle_app::billing_api::router::handle_at(&deps, &request, now).await;
                expect(outcome(answer), not_ours)
            }
            "usage_request" => {
                let (method, path, body) = route(USAGE_ROUTES, data);
                let request = post(&path, body)
                    .method(method)
                    .header("authorization", format!("Bearer {USAGE_KEY}"))
                    .build();
                let deps = usage_deps();
                let answer = entitle_app::usage_api::router::handle_at(&deps, &request, now).await;
                expect(outcome(answer), not_ours)
            }
            "catalog" => match PlanCatalog::parse(&text(data)) {
                Ok(catalog) => {
                    // What the functions do with a catalog at start and on every read.
                    let version = entitle_domain::entitlements::history::catalog_version(&catalog);
                    let free = entitle_domain::entitlements::Entitlements::free(
                        entitle_domain::ids::SubjectId::parse(USER).expect("a user id"),
                        &catalog,
                    );
                    let _ = entitle_domain::entitlements::history::explain(&free, &catalog);
                    Ok((0, format!("parsed {}", &version[..6])))
                }
                Err(e) => Ok((
                    0,
                    format!(
                        "refused: {}",
                        e.to_string().chars().take(40).collect::<String>()
                    ),
                )),
            },
            other => Err(format!("no target {other}")),
        }
    })
}

/// The inputs a target starts from: the fixtures the tests use (real shapes), and a few hand-made ones.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = |d: &str| -> Vec<Vec<u8>> {
        let mut files: Vec<_> = std::fs::read_dir(fixtures::path(d))
            .map(|r| r.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .into_iter()
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json" || e == "toml"))
            .filter_map(|p| std::fs::read(p).ok())
            .collect()
    };
    let strings = |items: &[&str]| {
        items
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect::<Vec<_>>()
    };
    match target {
        "stripe_signature" => {
            let body = fixtures::text("stripe/invoice.paid.json");
            let good = entitle_core::stripe::signature::sign(body.as_bytes(), STRIPE_SECRET, NOW);
            vec![
                format!("{good}\n{body}").into_bytes(),
                format!("t={NOW},v1=00,v1=zz,v0=1\n{body}").into_bytes(),
                b"t=,v1=\n{}".to_vec(),
            ]
        }
        "stripe_event" => dir("stripe"),
        "svix_headers" => {
            let body = fixtures::text("clerk/user.created.json");
            let good = svix::sign(body.as_bytes(), SVIX_SECRET, "msg_1", NOW);
            vec![
                format!("msg_1\n{NOW}\n{good}\n{body}").into_bytes(),
                format!("msg_1\n{NOW}\nv1,AAAA v2,x\n{body}").into_bytes(),
            ]
        }
        "clerk_event" => dir("clerk"),
        "session_token" => {
            let mut seeds = strings(&["a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.", ""]);
            seeds.push(session().into_bytes());
            seeds
        }
        "session_claims" => strings(&[
            r#"{"sub":"user_2fuzzFUZZfuzzFUZZfuzz","iss":"https://clerk.example.com","iat":1795341590,"nbf":1795341590,"exp":1795341660}"#,
            r#"{"sub":"user_2fuzzFUZZfuzzFUZZfuzz","iss":"https://clerk.example.com","iat":1795341590,"nbf":1795341590,"exp":1795341660,"v":2,"o":{"id":"org_2fuzz","rol":"admin","slg":"acme","per":"manage","fpm":"3"}}"#,
            r#"{"sub":"user_2x","iss":"https://clerk.example.com","exp":1795341660,"azp":"https://app.example.com","org_id":"org_1","org_role":"org:admin"}"#,
        ]),
        "billing_request" => {
            let mut seeds = Vec::new();
            for (i, body) in [
                r#"{"price":"starter_monthly","successUrl":"https://app.example.com/done","cancelUrl":"https://app.example.com/pricing"}"#,
                r#"{"returnUrl":"https://app.example.com/account"}"#,
                r#"{"at":"period_end","keepAddons":true}"#,
                r#"{}"#,
                r#"{"price":"pro_monthly","at":"now","prorationBehavior":"create_prorations","preview":true}"#,
                "from=2026-01-01T00:00:00Z&to=2026-12-01T00:00:00Z",
                "from=2026-01-01T00%3A00%3A00Z",
                "",
                "",
            ]
            .iter()
            .enumerate()
            {
                let mut seed = vec![i as u8];
                seed.extend_from_slice(body.as_bytes());
                seeds.push(seed);
            }
            seeds
        }
        "usage_request" => {
            let mut seeds = Vec::new();
            for (i, body) in [
                r#"{"subject":"user_2fuzz","feature":"messages_per_day","amount":1}"#,
                r#"{"subject":"org_2fuzz","memberId":"user_2m","feature":"credits","amount":5,"idempotencyKey":"k1","hold":{"seconds":60}}"#,
                "user_2fuzz|messages_per_day#d2026-11-22|h1\n{\"amount\":3}",
                "user_2fuzz|credits|h1|user_2m",
                "subject=org_2fuzz&memberId=user_2m",
                "subject=user_2fuzz&at=2026-11-22T10%3A00%3A00Z&explain=true",
                "subject=user_2fuzz&from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z",
                "subject=user_2fuzz&limit=5",
            ]
            .iter()
            .enumerate()
            {
                let mut seed = vec![i as u8];
                seed.extend_from_slice(body.as_bytes());
                seeds.push(seed);
            }
            seeds
        }
        "catalog" => {
            let mut seeds = dir("catalog");
            seeds.push(fixtures::text("../config/plans.toml").into_bytes());
            seeds
        }
        _ => Vec::new(),
    }
}

/// The regression inputs kept for `target` (every crash found, once fixed): `crates/fuzz/regressions/<target>/`.
pub fn regressions(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(target);
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    found.sort();
    found
        .into_iter()
        .filter_map(|p| {
            Some((
                p.file_name()?.to_string_lossy().into_owned(),
                std::fs::read(&p).ok()?,
            ))
        })
        .collect()
}

/// The name a crash is kept under: a digest of the input.
pub fn name_of(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(data)[..8])
}
