//! The local AWS emulator, as `make test` starts it (scripts/with-local-aws.sh): its SDK configuration and
//! the template's resources, read from the environment.
use aws_config::{BehaviorVersion, SdkConfig};
use std::collections::HashSet;

/// An environment variable the local-AWS wrapper exports; a clear failure when the tests run without it.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: integration tests run against the local AWS emulator; use `make test`")
    })
}

pub async fn sdk_config() -> SdkConfig {
    env("AWS_ENDPOINT_URL");
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// A fresh SQS queue subscribed to the billing-events topic with raw delivery (as the template's
/// entitlement queue is), so a test sees every message published after it was made.
pub struct TopicTap {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl TopicTap {
    pub async fn subscribe(config: &SdkConfig, topic_arn: &str) -> Self {
        let sqs = aws_sdk_sqs::Client::new(config);
        let sns = aws_sdk_sns::Client::new(config);
        let name = crate::fixtures::unique_id("tap-");
        let queue_url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url");
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .expect("queue arn");
        sns.subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .expect("subscribe");
        Self { sqs, queue_url }
    }

    /// Every message now in the queue whose body's `id` is `event_id`. Receiving deletes them all: take
    /// every id of interest from one call of [`TopicTap::messages`] when there are several.
    pub async fn messages_for(&self, event_id: &str) -> Vec<aws_sdk_sqs::types::Message> {
        self.messages()
            .await
            .into_iter()
            .filter(|m| body_id(m).as_deref() == Some(event_id))
            .collect()
    }

    /// Every message now in the queue (received and deleted).
    pub async fn messages(&self) -> Vec<aws_sdk_sqs::types::Message> {
        let messages = drain(&self.sqs, &self.queue_url).await;
        messages.iter().for_each(record_sample);
        messages
    }
}

pub fn body_id(message: &aws_sdk_sqs::types::Message) -> Option<String> {
    let body: serde_json::Value = serde_json::from_str(message.body()?).ok()?;
    body.get("id")?.as_str().map(str::to_owned)
}

/// Receives until the queue is empty, deleting what it received. SNS delivery to SQS is synchronous in the
/// emulator, so once a publish returned its message is here.
pub async fn drain(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let mut all = Vec::new();
    let mut seen = HashSet::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .wait_time_seconds(0)
            .send()
            .await
            .expect("receive");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return all;
        }
        for m in messages {
            if let Some(handle) = m.receipt_handle() {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .expect("delete");
            }
            if seen.insert(m.message_id().unwrap_or_default().to_owned()) {
                all.push(m);
            }
        }
    }
}

/// Keeps a copy of every billing event the tests receive in `$SAMPLES_DIR/events` (set by `make test`), so
/// scripts/check_samples.py can validate what was really published against docs/schemas/.
fn record_sample(message: &aws_sdk_sqs::types::Message) {
    let (Some(dir), Some(body)) = (crate::fixtures::samples_dir("events"), message.body()) else {
        return;
    };
    let Ok(event) = serde_json::from_str::<serde_json::Value>(body) else {
        return;
    };
    if event.get("schemaVersion").is_none() {
        return; // not a billing event (e.g. a raw test message)
    }
    let name = format!("{}.json", message.message_id().unwrap_or("unknown"));
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(std::path::Path::new(&dir).join(name), body);
}

/// A new Secrets Manager secret in the local AWS holding `value`, named `prefix` and a unique suffix: its ARN.
pub async fn create_secret(prefix: &str, value: &str) -> String {
    aws_sdk_secretsmanager::Client::new(&sdk_config().await)
        .create_secret()
        .name(crate::fixtures::unique_id(prefix))
        .secret_string(value)
        .send()
        .await
        .expect("create a secret")
        .arn
        .expect("a secret has an ARN")
}

/// Stores a new value of secret `arn` (a rotation, or someone filling it).
pub async fn put_secret(arn: &str, value: &str) {
    aws_sdk_secretsmanager::Client::new(&sdk_config().await)
        .put_secret_value()
        .secret_id(arn)
        .secret_string(value)
        .send()
        .await
        .expect("put a secret value");
}
