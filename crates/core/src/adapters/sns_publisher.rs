//! `EventPublisher` on SNS: the event as the JSON body, `type` and `source` as message attributes so
//! subscribers can filter.
use super::sdk_error;
use async_trait::async_trait;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use aws_sdk_sns::Client;
use entitle_domain::event::BillingEvent;
use entitle_domain::ports::{EventPublisher, PublishError};

pub struct SnsPublisher {
    client: Client,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

fn attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("data type is set")
}

#[async_trait]
impl EventPublisher for SnsPublisher {
    async fn publish(&self, event: &BillingEvent) -> Result<(), PublishError> {
        let fail = |source| PublishError {
            event_id: event.id.to_string(),
            source,
        };
        let message = serde_json::to_string(event).map_err(|e| fail(e.into()))?;
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(message)
            .message_attributes("type", attribute(event.event_type.as_str()))
            .message_attributes("source", attribute(event.source.as_str()))
            .send()
            .await
            .map_err(|e| fail(sdk_error(e)))?;
        Ok(())
    }

    /// One `PublishBatch` (up to SNS's 10 entries per request) instead of a request per event: the AWS call is
    /// most of a webhook's CPU.
    async fn publish_all(&self, events: &[&BillingEvent]) -> Result<(), PublishError> {
        for chunk in events.chunks(10) {
            if let [event] = chunk {
                self.publish(event).await?;
                continue;
            }
            let mut request = self.client.publish_batch().topic_arn(&self.topic_arn);
            for (n, event) in chunk.iter().enumerate() {
                let fail = |source| PublishError {
                    event_id: event.id.to_string(),
                    source,
                };
                let message = serde_json::to_string(event).map_err(|e| fail(e.into()))?;
                let entry = PublishBatchRequestEntry::builder()
                    .id(n.to_string())
                    .message(message)
                    .message_attributes("type", attribute(event.event_type.as_str()))
                    .message_attributes("source", attribute(event.source.as_str()))
                    .build()
                    .map_err(|e| fail(e.into()))?;
                request = request.publish_batch_request_entries(entry);
            }
            let answer = request.send().await.map_err(|e| PublishError {
                event_id: chunk[0].id.to_string(),
                source: sdk_error(e),
            })?;
            if let Some(failed) = answer.failed().first() {
                let event = failed
                    .id()
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| chunk.get(n))
                    .unwrap_or(&chunk[0]);
                return Err(PublishError {
                    event_id: event.id.to_string(),
                    source: format!(
                        "the topic refused it: {} {}",
                        failed.code(),
                        failed.message().unwrap_or_default()
                    )
                    .into(),
                });
            }
        }
        Ok(())
    }
}
