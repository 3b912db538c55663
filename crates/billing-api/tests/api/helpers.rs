use billing_api::deps::{ApiConfig, Config, Deps};
use billing_api::redirect::AllowedOrigins;
use billing_api::router::handle_at;
use entitle_core::adapters::{DynamoEntitlements, DynamoUsage};
use entitle_core::auth::Verifier;
use entitle_core::stripe::StripeClient;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::time::UnixTime;
use entitle_test_support::aws;
use entitle_test_support::clerk::FakeClerk;
use entitle_test_support::fixtures::unique_id;
use entitle_test_support::http::RequestSpec;
use entitle_test_support::jwt::{rs256, JwksServer};
use entitle_test_support::stripe::FakeStripe;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::sync::Arc;

pub const ISSUER: &str = "https://clerk.entitle.test";
pub const APP: &str = "https://app.entitle.test";

pub struct TestApp {
    pub deps: Arc<Deps>,
    pub stripe: FakeStripe,
    pub jwks: JwksServer,
    pub entitlements: DynamoEntitlements,
    /// The usage table as usage-api and the processor write it.
    pub usage: Arc<DynamoUsage>,
    pub user_id: String,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(PlanCatalog::builtin().clone()).await
    }

    /// With another plan catalog than the built-in one.
    pub async fn spawn_with(catalog: PlanCatalog) -> Self {
        // Boxed: the setup's Stripe calls make a deep future; every test awaits it.
        Box::pin(Self::spawn_inner(catalog, None)).await
    }

    /// With the local Clerk behind organizations' permission checks.
    pub async fn spawn_with_clerk(clerk: &FakeClerk) -> Self {
        Box::pin(Self::spawn_inner(
            PlanCatalog::builtin().clone(),
            Some(clerk),
        ))
        .await
    }

    async fn spawn_inner(catalog: PlanCatalog, clerk: Option<&FakeClerk>) -> Self {
        let stripe = FakeStripe::start_with_latency(20);
        for (id, lookup_key, amount, recurring) in [
            ("price_local_starter_monthly", "starter_monthly", 4900, true),
            ("price_local_pro_monthly", "pro_monthly", 19900, true),
            ("price_credits1000", "credits_1000", 1900, false),
        ] {
            stripe.seed_price(json!({
                "id": id, "lookup_key": lookup_key, "unit_amount": amount, "currency": "usd",
                "recurring": if recurring { json!({"interval": "month"}) } else { Value::Null },
                "product": "prod_entitle"
            }));
        }
        // Entitle's own portal configuration, as `entitle setup` makes it (a fresh account has no default).
        StripeClient::new(
            SecretString::from(stripe.api_key.clone()),
            stripe.base_url.clone(),
        )
        .post_form(
            "/v1/billing_portal/configurations",
            &[
                ("features[payment_method_update][enabled]", "true".into()),
                ("features[invoice_history][enabled]", "true".into()),
                ("metadata[entitle]", "setup".into()),
            ],
            &unique_id("portal-config-"),
        )
        .await
        .expect("a portal configuration");
        let jwks = JwksServer::start();
        let config = aws::sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let verifier = Verifier::from_config(
            None,
            Some(jwks.url.clone()),
            Some(ISSUER.to_owned()),
            Some(APP.to_owned()),
        )
        .unwrap();
        let usage = Arc::new(DynamoUsage::new(
            dynamodb.clone(),
            aws::env("USAGE_TABLE"),
            aws::env("ENTITLEMENTS_TABLE"),
        ));
        let deps = Deps::new(
            Config {
                customers_table: aws::env("CUSTOMERS_TABLE"),
                entitlements_table: aws::env("ENTITLEMENTS_TABLE"),
                usage_table: aws::env("USAGE_TABLE"),
                stripe_api_base: stripe.base_url.clone(),
                catalog,
                api: ApiConfig {
                    redirect_origins: AllowedOrigins::parse(APP),
                    cors_origins: AllowedOrigins::parse(APP),
                },
                portal_configuration: None,
                clerk_api_base: clerk
                    .map(|c| c.base_url.clone())
                    .unwrap_or_else(|| "http://127.0.0.1:9".into()),
            },
            verifier,
            (
                SecretString::from(stripe.api_key.clone()).into(),
                clerk.map(|c| SecretString::from(c.secret_key.clone()).into()),
            ),
            &config,
        );
        Self {
            deps: Arc::new(deps),
            stripe,
            jwks,
            entitlements: DynamoEntitlements::new(dynamodb, aws::env("ENTITLEMENTS_TABLE")),
            usage,
            user_id: unique_id("user_"),
        }
    }

    /// Credits bought, as the processor writes them: the ledger row and the balance in one transaction.
    pub async fn buy_credits(&self, n: i64, session: &str) {
        use entitle_domain::ids::SubjectId;
        use entitle_domain::ports::usage::{CounterKey, Record, UsageStore, WriteOutcome};
        let user = SubjectId::parse(self.user_id.as_str()).unwrap();
        let record = Record {
            key: format!("checkout#{session}"),
            user: user.clone(),
            fingerprint: session.to_owned(),
            response: String::new(),
            credits: n,
            reason: "credit pack purchase".into(),
            at: UnixTime::now(),
            expires_at: None,
        };
        let key = CounterKey {
            user,
            name: "credits".into(),
            expires_at: None,
        };
        let outcome = self
            .usage
            .write(
                &key,
                &entitle_domain::usage::decision::add_credits(n),
                Some(&record),
            )
            .await
            .unwrap();
        assert_eq!(outcome, WriteOutcome::Applied);
    }

    /// A valid Clerk session token for this test's user.
    pub fn token(&self) -> String {
        let now = UnixTime::now().secs();
        rs256(
            &json!({"sub": self.user_id, "iss": ISSUER, "azp": APP, "iat": now, "nbf": now - 5, "exp": now + 60, "sid": "sess_test"}),
            "test-key-1",
        )
    }

    /// A session token of `user` with `org` active, in Clerk's v2 claims (`o`: id, role without its prefix).
    pub fn org_token(&self, user: &str, org: &str, role: &str) -> String {
        let now = UnixTime::now().secs();
        rs256(
            &json!({"sub": user, "iss": ISSUER, "azp": APP, "iat": now, "nbf": now - 5, "exp": now + 60,
                    "sid": "sess_test", "v": 2, "o": {"id": org, "rol": role, "slg": "acme"}}),
            "test-key-1",
        )
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        call(&self.deps, method, path, body, &self.token()).await
    }

    /// A call with the client's `Idempotency-Key`.
    pub async fn call_with_key(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        key: &str,
    ) -> Reply {
        send(&self.deps, method, path, body, &self.token(), Some(key)).await
    }

    /// The writes (non-GET requests) the local Stripe received on `path`.
    pub fn writes(&self, path: &str) -> Vec<Value> {
        self.stripe
            .requests()
            .into_iter()
            .filter(|r| r["method"] != "GET" && r["path"] == path)
            .collect()
    }

    /// Subscription `id` as Stripe holds it now, read through the production client.
    pub async fn stripe_subscription(
        &self,
        id: &str,
    ) -> entitle_domain::ports::SubscriptionDetails {
        self.deps
            .lifecycle
            .subscription(id)
            .await
            .unwrap()
            .expect("the subscription")
    }

    pub fn stripe_customers(&self) -> Vec<Value> {
        self.stripe
            .customers()
            .into_iter()
            .filter(|c| c["metadata"]["clerkUserId"] == self.user_id.as_str())
            .collect()
    }
}

pub async fn call(
    deps: &Deps,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: &str,
) -> Reply {
    send(deps, method, path, body, token, None).await
}

async fn send(
    deps: &Deps,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: &str,
    idempotency_key: Option<&str>,
) -> Reply {
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request = RequestSpec::post(path, text.as_bytes())
        .method(method)
        .header("authorization", format!("Bearer {token}"));
    if let Some(key) = idempotency_key {
        request = request.header("idempotency-key", key);
    }
    let request = request.build();
    let response = handle_at(deps, &request, UnixTime::now()).await;
    let reply = Reply {
        status: response.status().as_u16(),
        body: serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null),
    };
    entitle_test_support::http::record_api_response(path, reply.status, &reply.body);
    entitle_test_support::http::record_request(method, path, &text, reply.status);
    reply
}

pub fn checkout_body(price: &str) -> Value {
    json!({"price": price, "successUrl": format!("{APP}/done?session={{CHECKOUT_SESSION_ID}}"), "cancelUrl": format!("{APP}/pricing")})
}
