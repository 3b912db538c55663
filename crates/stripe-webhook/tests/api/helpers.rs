use aws_config::SdkConfig;
use entitle_core::secrets::Rotating;
use entitle_core::stripe::signature::sign;
use entitle_domain::time::UnixTime;
use entitle_test_support::aws::{self, TopicTap};
use entitle_test_support::fixtures::{stripe_event, unique_id};
use entitle_test_support::http::RequestSpec;
use secrecy::SecretString;
use std::sync::Arc;
use stripe_webhook::deps::{Config, Deps, WebhookConfig};
use stripe_webhook::handler::handle_at;

pub const SECRET: &str = "whsec_integration_secret";

pub struct TestApp {
    pub deps: Arc<Deps>,
    pub config: SdkConfig,
    pub tap: TopicTap,
}

pub struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::with(&[SECRET], &aws::env("BILLING_EVENTS_TOPIC_ARN")).await
    }

    /// The webhook with these signing secrets, publishing to `topic_arn`.
    pub async fn with(secrets: &[&str], topic_arn: &str) -> Self {
        let secrets: Vec<SecretString> = secrets
            .iter()
            .map(|s| SecretString::from(s.to_string()))
            .collect();
        Self::with_secrets(secrets.into(), topic_arn).await
    }

    /// The webhook with its signing secrets read from wherever `secrets` reads them.
    pub async fn with_secrets(secrets: Rotating<Vec<SecretString>>, topic_arn: &str) -> Self {
        let config = aws::sdk_config().await;
        let tap = TopicTap::subscribe(&config, &aws::env("BILLING_EVENTS_TOPIC_ARN")).await;
        let deps = Deps::new(
            Config {
                idempotency_table: aws::env("IDEMPOTENCY_TABLE"),
                billing_events_topic_arn: topic_arn.to_owned(),
                webhook: WebhookConfig {
                    secrets,
                    ..WebhookConfig::new(Vec::new())
                },
            },
            &config,
        );
        Self {
            deps: Arc::new(deps),
            config,
            tap,
        }
    }

    pub async fn deliver(&self, body: &str, signature: &str) -> Reply {
        deliver(&self.deps, body, signature).await
    }

    /// Every message the topic carried for `event_id` since this app was spawned.
    pub async fn published(&self, event_id: &str) -> Vec<aws_sdk_sqs::types::Message> {
        self.tap.messages_for(event_id).await
    }

    /// The idempotency record of a Stripe event, if any.
    pub async fn record(
        &self,
        event_id: &str,
    ) -> Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        aws_sdk_dynamodb::Client::new(&self.config)
            .get_item()
            .table_name(aws::env("IDEMPOTENCY_TABLE"))
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("stripe#{event_id}")),
            )
            .consistent_read(true)
            .send()
            .await
            .expect("get item")
            .item
    }
}

pub async fn deliver(deps: &Deps, body: &str, signature: &str) -> Reply {
    let request = RequestSpec::post("/webhooks/stripe", body.as_bytes())
        .header("stripe-signature", signature)
        .build();
    let response = handle_at(deps, &request, UnixTime::now()).await;
    Reply {
        status: response.status().as_u16(),
        body: serde_json::from_slice(response.body().as_ref()).expect("JSON reply"),
    }
}

/// A fixture event with a fresh id, created now, and its valid signature.
pub fn signed_event(fixture: &str, secret: &str) -> (String, String, String) {
    let id = unique_id("evt_");
    let now = UnixTime::now().secs();
    let body = stripe_event(fixture, &id, now);
    let signature = sign(body.as_bytes(), secret, now);
    (id, body, signature)
}
