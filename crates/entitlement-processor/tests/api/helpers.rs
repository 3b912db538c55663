use entitle_core::adapters::{DynamoEntitlements, DynamoUsage};
use entitle_core::stripe::StripeClient;
use entitle_domain::entitlements::Entitlements;
use entitle_domain::ids::SubjectId;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::ports::{EntitlementStore, StripeCustomers};
use entitle_domain::time::UnixTime;
use entitle_test_support::aws::{self, TopicTap};
use entitle_test_support::clerk::FakeClerk;
use entitle_test_support::fixtures::unique_id;
use entitle_test_support::stripe::FakeStripe;
use entitlement_processor::deps::{Config, Deps, Keys};
use entitlement_processor::handler::handle_at;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub const STARTER: &str = "price_local_starter_monthly";
pub const PRO: &str = "price_local_pro_monthly";
pub const CREDITS: &str = "price_credits1000";
/// The catalog's add-on (`team_pack`, by lookup key): +5 agents, +1,000 messages a day, the audit log.
pub const ADDON: &str = "price_1TeamPackMonthlyKx7Yz2Lm";

pub struct TestApp {
    pub deps: Arc<Deps>,
    pub stripe: FakeStripe,
    pub clerk: FakeClerk,
    pub tap: TopicTap,
    pub store: Arc<DynamoEntitlements>,
    pub usage: Arc<DynamoUsage>,
    pub stripe_client: Arc<StripeClient>,
    pub sqs: aws_sdk_sqs::Client,
    /// Where this test's processor sends work to itself (a full reconcile's pages and users).
    pub work_queue_url: String,
    pub user: SubjectId,
    pub customer: String,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Box::pin(Self::spawn_with(PlanCatalog::builtin().clone())).await
    }

    /// With another plan catalog than the built-in one.
    pub async fn spawn_with(catalog: PlanCatalog) -> Self {
        let stripe = FakeStripe::start();
        for (id, key, amount, recurring) in [
            (STARTER, "starter_monthly", 4900, true),
            (PRO, "pro_monthly", 19900, true),
            (CREDITS, "credits_1000", 1900, false),
            (ADDON, "team_pack_monthly", 2900, true),
        ] {
            stripe.seed_price(json!({"id": id, "lookup_key": key, "unit_amount": amount, "currency": "usd",
                "recurring": if recurring { json!({"interval": "month"}) } else { Value::Null }, "product": "prod_entitle"}));
        }
        let clerk = FakeClerk::start();
        let user = SubjectId::parse(unique_id("user_")).unwrap();
        clerk.create_user(user.as_str());
        let config = aws::sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let stripe_client = Arc::new(StripeClient::new(
            SecretString::from(stripe.api_key.clone()),
            stripe.base_url.clone(),
        ));
        let customer = stripe_client
            .create_customer(&user, &unique_id("create-"))
            .await
            .unwrap()
            .to_string();
        let store = Arc::new(DynamoEntitlements::new(
            dynamodb.clone(),
            aws::env("ENTITLEMENTS_TABLE"),
        ));
        let usage = Arc::new(DynamoUsage::new(
            dynamodb.clone(),
            aws::env("USAGE_TABLE"),
            aws::env("ENTITLEMENTS_TABLE"),
        ));
        let topic = aws::env("BILLING_EVENTS_TOPIC_ARN");
        let tap = TopicTap::subscribe(&config, &topic).await;
        // The processor's own queue, one per test (the template's queue is shared with other tests).
        let work_queue_url = sqs
            .create_queue()
            .queue_name(unique_id("work-"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let deps = Deps::new(
            Config {
                entitlements_table: aws::env("ENTITLEMENTS_TABLE"),
                usage_table: aws::env("USAGE_TABLE"),
                customers_table: aws::env("CUSTOMERS_TABLE"),
                billing_events_topic_arn: topic,
                dead_letter_queue_url: aws::env("ENTITLEMENT_DLQ_URL"),
                work_queue_url: work_queue_url.clone(),
                stripe_api_base: stripe.base_url.clone(),
                clerk_api_base: clerk.base_url.clone(),
                catalog,
                grace: Duration::from_secs(7 * 86_400),
                // Unpaced, so that a fan-out's messages are there to drain at once (pacing: its own test).
                reconcile_rate: 0,
            },
            Keys {
                stripe: SecretString::from(stripe.api_key.clone()).into(),
                clerk: SecretString::from(clerk.secret_key.clone()).into(),
            },
            &config,
        );
        Self {
            deps: Arc::new(deps),
            stripe,
            clerk,
            tap,
            store,
            usage,
            stripe_client,
            sqs,
            work_queue_url,
            user,
            customer,
        }
    }

    /// Sets the subscription's current state in the fake Stripe.
    pub fn subscription(&self, id: &str, price: &str, status: &str, cancel_at_period_end: bool) {
        self.stripe.seed_subscription(json!({
            "id": id, "customer": self.customer, "price": price, "quantity": 1, "status": status,
            "cancel_at_period_end": cancel_at_period_end, "metadata": {"userId": self.user.as_str()}
        }));
    }

    /// Sets a subscription with several items `(price, quantity)` in the fake Stripe.
    pub fn subscription_items(
        &self,
        id: &str,
        items: &[(&str, u64)],
        status: &str,
        cancel_at_period_end: bool,
    ) {
        let items: Vec<Value> = items
            .iter()
            .map(|(price, quantity)| json!({"price": price, "quantity": quantity}))
            .collect();
        self.stripe.seed_subscription(json!({
            "id": id, "customer": self.customer, "items": items, "status": status,
            "cancel_at_period_end": cancel_at_period_end, "metadata": {"userId": self.user.as_str()}
        }));
    }

    /// A billing event about this test's user, as the webhooks publish it.
    pub fn event(&self, id: &str, event_type: &str, at: i64, data: Value) -> String {
        json!({
            "schemaVersion": 1, "id": id, "source": "stripe", "type": event_type,
            "occurredAt": UnixTime::from_secs(at).to_rfc3339(), "userId": self.user.as_str(),
            "stripeCustomerId": self.customer, "data": data
        })
        .to_string()
    }

    /// Runs the processor on one SQS batch; returns the failed message ids.
    pub async fn process(&self, bodies: &[String]) -> Vec<String> {
        process(&self.deps, bodies).await
    }

    pub async fn entitlements(&self) -> Entitlements {
        self.store
            .load(&self.user)
            .await
            .unwrap()
            .expect("stored")
            .entitlements
    }

    pub fn clerk_billing(&self) -> Value {
        self.clerk.user(self.user.as_str()).expect("the Clerk user")["public_metadata"]["billing"]
            .clone()
    }
}

pub async fn process(deps: &Deps, bodies: &[String]) -> Vec<String> {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| json!({"messageId": format!("m{i}"), "body": body, "eventSource": "aws:sqs"}))
        .collect();
    let reply = handle_at(deps, json!({ "Records": records }), UnixTime::now())
        .await
        .unwrap();
    reply["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}
