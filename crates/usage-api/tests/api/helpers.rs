use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use entitle_core::adapters::{DynamoEntitlements, DynamoUsage};
use entitle_domain::entitlements::{grant, AddonGrant, Entitlements, Status};
use entitle_domain::ids::SubjectId;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::usage::{CounterKey, Record, UsageStore, WriteOutcome};
use entitle_domain::time::UnixTime;
use entitle_domain::usage::decision::add_credits;
use entitle_test_support::aws;
use entitle_test_support::fixtures::unique_id;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use usage_api::auth::ApiKeys;
use usage_api::deps::{Config, Deps};
use usage_api::router::handle_at;

pub const KEY: &str = "sk_usage_integration";

pub const CATALOG: &str = r#"
[limits]
messages = { kind = "metered", resets = "day", name = "Messages", unit = { one = "message", other = "messages" } }
tokens = { kind = "metered", resets = "billing_period" }
agents = { kind = "allocated" }
credits = { kind = "credits", low_threshold = 10 }

[[plans]]
id = "free"
name = "Free"
default = true
[plans.limits]
messages = 40
agents = 40

[[plans]]
id = "pro"
name = "Pro"
[plans.limits]
messages = 100
tokens = 1000
agents = 100
[[plans.prices]]
lookup_key = "pro_monthly"
interval = "month"

# Bills tokens beyond its 1,000 instead of refusing them.
[[plans]]
id = "scale"
name = "Scale"
[plans.limits]
messages = 100
tokens = 1000
agents = 100
[[plans.prices]]
lookup_key = "scale_monthly"
interval = "month"
[plans.overage]
tokens = { unit_amount = 1, per = 100, currency = "usd" }

# An organization's plan: one pool of 20 messages and 10 agents, each member capped at 5 messages and 3
# agents inside it.
[[plans]]
id = "team"
name = "Team"
for = "organization"
[plans.limits]
messages = 20
agents = 10
[plans.member_limits]
messages = 5
agents = 3
[[plans.prices]]
lookup_key = "team_monthly"
interval = "month"

# An add-on: per unit, +5 agents and +10 messages, beside any plan.
[[plans]]
id = "team_pack"
name = "Team pack"
addon = true
[plans.limits]
agents = 5
messages = 10
[[plans.prices]]
lookup_key = "team_pack_monthly"
interval = "month"
"#;

/// Counts DynamoDB operations by name, as they go on the wire.
#[derive(Debug, Default, Clone)]
pub struct RoundTrips(pub Arc<Mutex<Vec<String>>>);

impl Intercept for RoundTrips {
    fn name(&self) -> &'static str {
        "RoundTrips"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("?")
            .rsplit('.')
            .next()
            .unwrap_or("?")
            .to_owned();
        self.0.lock().unwrap().push(target);
        Ok(())
    }
}

pub struct TestApp {
    pub deps: Arc<Deps>,
    pub store: DynamoUsage,
    pub entitlements: DynamoEntitlements,
    pub trips: RoundTrips,
    pub user: SubjectId,
    pub config: aws_config::SdkConfig,
    seq: AtomicUsize,
}

impl TestApp {
    pub async fn spawn() -> Self {
        let config = aws::sdk_config().await;
        let trips = RoundTrips::default();
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .interceptor(trips.clone())
                .build(),
        );
        let usage = || {
            DynamoUsage::new(
                dynamodb.clone(),
                aws::env("USAGE_TABLE"),
                aws::env("ENTITLEMENTS_TABLE"),
            )
        };
        let mut deps = Deps::new(
            Config {
                usage_table: aws::env("USAGE_TABLE"),
                entitlements_table: aws::env("ENTITLEMENTS_TABLE"),
                billing_events_topic_arn: aws::env("BILLING_EVENTS_TOPIC_ARN"),
                catalog: PlanCatalog::parse(CATALOG).unwrap(),
            },
            ApiKeys::new(&SecretString::from(KEY.to_owned())).into(),
            &config,
        );
        // The store with the round-trip counter on its DynamoDB client, so a test can see the wire.
        deps.store = Arc::new(usage());
        Self {
            deps: Arc::new(deps),
            store: usage(),
            entitlements: DynamoEntitlements::new(
                aws_sdk_dynamodb::Client::new(&config),
                aws::env("ENTITLEMENTS_TABLE"),
            ),
            trips,
            user: SubjectId::parse(unique_id("user_")).unwrap(),
            config,
            seq: AtomicUsize::new(0),
        }
    }

    pub fn key(&self) -> String {
        unique_id(&format!("k{}-", self.seq.fetch_add(1, Ordering::SeqCst)))
    }

    pub async fn on_plan(&self, plan: &str, period_end: &str) {
        let mut e = Entitlements::on_plan(
            self.user.clone(),
            self.deps.catalog.plan(plan).unwrap(),
            Status::Active,
        );
        e.period_end = Some(period_end.into());
        self.entitlements.put(&e).await.unwrap();
    }

    /// A new organization on `plan`, as the processor writes it.
    pub async fn organization_on(&self, plan: &str) -> SubjectId {
        let org = SubjectId::parse(unique_id("org_")).unwrap();
        let mut e = Entitlements::on_plan(
            org.clone(),
            self.deps.catalog.plan(plan).unwrap(),
            Status::Active,
        );
        e.period_end = Some("2099-01-01T00:00:00Z".into());
        self.entitlements.put(&e).await.unwrap();
        org
    }

    /// On `plan` with `quantity` × the team pack, as the processor writes it (`until`: canceled at period end).
    pub async fn with_packs(&self, plan: &str, quantity: u64, until: Option<&str>) {
        let catalog = &self.deps.catalog;
        let mut e = Entitlements::on_plan(
            self.user.clone(),
            catalog.plan(plan).unwrap(),
            Status::Active,
        );
        e.addons = vec![AddonGrant {
            plan: "team_pack".into(),
            quantity,
            subscription_id: "sub_pack".into(),
            until: until.map(str::to_owned),
        }];
        let (features, limits) = grant(catalog.plan(plan).unwrap(), &e.addons, catalog);
        (e.features, e.limits) = (features, limits);
        self.entitlements.put(&e).await.unwrap();
    }

    /// Credits bought: the processor's write (ledger row + balance, one transaction).
    pub async fn buy_credits(&self, n: i64, session: &str) -> WriteOutcome {
        let record = Record {
            key: format!("checkout#{session}"),
            user: self.user.clone(),
            fingerprint: String::new(),
            response: String::new(),
            credits: n,
            reason: "credit pack purchase".into(),
            at: UnixTime::now(),
            expires_at: None,
        };
        let key = CounterKey {
            user: self.user.clone(),
            name: "credits".into(),
            expires_at: None,
        };
        self.store
            .write(&key, &add_credits(n), Some(&record))
            .await
            .unwrap()
    }

    pub async fn call_at(
        &self,
        method: &str,
        path: &str,
        body: Value,
        now: UnixTime,
    ) -> (u16, Value) {
        call(&self.deps, method, path, body, now).await
    }

    pub async fn consume_at(&self, feature: &str, amount: i64, key: &str, now: UnixTime) -> Value {
        let (status, body) = self
            .call_at(
                "POST",
                "/v1/usage",
                json!({"userId": self.user.as_str(), "feature": feature, "amount": amount, "idempotencyKey": key}),
                now,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

pub async fn call(
    deps: &Deps,
    method: &str,
    path: &str,
    body: Value,
    now: UnixTime,
) -> (u16, Value) {
    let text = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let request = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://usage.test/prod{path}"))
        .header("authorization", format!("Bearer {KEY}"))
        .body(lambda_http::Body::from(text.clone()))
        .unwrap();
    let response = handle_at(deps, &request, now).await;
    let status = response.status().as_u16();
    let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    entitle_test_support::http::record_usage_response(method, path, status, &body);
    entitle_test_support::http::record_request(method, path, &text, status);
    (status, body)
}
