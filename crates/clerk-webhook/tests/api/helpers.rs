use clerk_webhook::deps::{ClerkConfig, Config, Deps};
use clerk_webhook::handler::handle_at;
use entitle_core::adapters::DynamoCustomerDirectory;
use entitle_core::stripe::StripeClient;
use entitle_core::webhook::svix::{sign, SvixKey};
use entitle_domain::time::UnixTime;
use entitle_test_support::aws::{self, TopicTap};
use entitle_test_support::fixtures::{self, unique_id};
use entitle_test_support::http::RequestSpec;
use entitle_test_support::stripe::FakeStripe;
use secrecy::SecretString;
use std::sync::Arc;

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub struct TestApp {
    pub deps: Arc<Deps>,
    pub stripe: FakeStripe,
    pub tap: TopicTap,
    pub customers: Arc<DynamoCustomerDirectory>,
    pub stripe_client: Arc<StripeClient>,
    /// A fresh Clerk user id, so tests sharing the emulator never meet.
    pub user_id: String,
}

pub struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
}

impl TestApp {
    pub async fn spawn() -> Self {
        // Latency makes concurrent requests overlap inside the fake, as they do at Stripe.
        let stripe = FakeStripe::start_with_latency(20);
        let config = aws::sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let customers = Arc::new(DynamoCustomerDirectory::new(
            dynamodb.clone(),
            aws::env("CUSTOMERS_TABLE"),
        ));
        let stripe_client = Arc::new(StripeClient::new(
            SecretString::from(stripe.api_key.clone()),
            stripe.base_url.clone(),
        ));
        let topic = aws::env("BILLING_EVENTS_TOPIC_ARN");
        let tap = TopicTap::subscribe(&config, &topic).await;
        let key = SvixKey::parse(&SecretString::from(SECRET.to_owned())).unwrap();
        let deps = Deps::new(
            Config {
                idempotency_table: aws::env("IDEMPOTENCY_TABLE"),
                customers_table: aws::env("CUSTOMERS_TABLE"),
                billing_events_topic_arn: topic,
                dead_letter_queue_url: aws::env("ENTITLEMENT_DLQ_URL"),
                stripe_api_base: stripe.base_url.clone(),
                webhook: ClerkConfig::new(vec![key]),
            },
            SecretString::from(stripe.api_key.clone()).into(),
            &config,
        );
        Self {
            deps: Arc::new(deps),
            stripe,
            tap,
            customers,
            stripe_client,
            user_id: unique_id("user_"),
        }
    }

    /// A Clerk fixture event about this test's user.
    pub fn event(&self, name: &str) -> String {
        let mut event = fixtures::json(&format!("clerk/{name}.json"));
        event["data"]["id"] = self.user_id.clone().into();
        serde_json::to_string(&event).unwrap()
    }

    pub async fn deliver(&self, message_id: &str, body: &str) -> Reply {
        deliver(&self.deps, message_id, body).await
    }

    /// The fake Stripe's customers for this test's user.
    pub fn stripe_customers(&self) -> Vec<serde_json::Value> {
        self.stripe
            .customers()
            .into_iter()
            .filter(|c| c["metadata"]["clerkUserId"] == self.user_id.as_str())
            .collect()
    }
}

pub async fn deliver(deps: &Deps, message_id: &str, body: &str) -> Reply {
    let now = UnixTime::now();
    let request = RequestSpec::post("/webhooks/clerk", body.as_bytes())
        .header("svix-id", message_id)
        .header("svix-timestamp", now.secs().to_string())
        .header(
            "svix-signature",
            sign(body.as_bytes(), SECRET, message_id, now.secs()),
        )
        .build();
    let response = handle_at(deps, &request, now).await;
    Reply {
        status: response.status().as_u16(),
        body: serde_json::from_slice(response.body().as_ref()).unwrap(),
    }
}
