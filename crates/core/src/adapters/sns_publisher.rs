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

/// What SNS carries of an event: the JSON body, and `type` and `source` as attributes.
type Message = (String, [(&'static str, MessageAttributeValue); 2]);

fn message(event: &BillingEvent) -> Result<Message, PublishError> {
    let body = serde_json::to_string(event).map_err(|e| failed(event, e.into()))?;
    Ok((
        body,
        [
            ("type", attribute(event.event_type.as_str())),
            ("source", attribute(event.source.as_str())),
        ],
    ))
}

fn failed(event: &BillingEvent, source: Box<dyn std::error::Error + Send + Sync>) -> PublishError {
    PublishError {
        event_id: event.id.to_string(),
        source,
    }
}

#[async_trait]
impl EventPublisher for SnsPublisher {
    async fn publish(&self, event: &BillingEvent) -> Result<(), PublishError> {
        let (message, [kind, source]) = message(event)?;
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(message)
            .message_attributes(kind.0, kind.1)
            .message_attributes(source.0, source.1)
            .send()
            .await
            .map_err(|e| failed(event, sdk_error(e)))?;
        Ok(())
    }

    /// One `PublishBatch` (up to SNS's 10 entries per request) instead of a request per event: the AWS call is
    /// most of a webhook's CPU.
    async fn publish_all(&self, events: &[BillingEvent]) -> Result<(), PublishError> {
        for chunk in events.chunks(10) {
            if let [event] = chunk {
                self.publish(event).await?;
                continue;
            }
            let mut request = self.client.publish_batch().topic_arn(&self.topic_arn);
            for (n, event) in chunk.iter().enumerate() {
                let (message, [kind, source]) = message(event)?;
                let entry = PublishBatchRequestEntry::builder()
                    .id(n.to_string())
                    .message(message)
                    .message_attributes(kind.0, kind.1)
                    .message_attributes(source.0, source.1)
                    .build()
                    .map_err(|e| failed(event, e.into()))?;
                request = request.publish_batch_request_entries(entry);
            }
            let answer = request
                .send()
                .await
                .map_err(|e| failed(&chunk[0], sdk_error(e)))?;
            if let Some(refused) = answer.failed().first() {
                let event = refused
                    .id()
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| chunk.get(n))
                    .unwrap_or(&chunk[0]);
                let reason = format!(
                    "the topic refused it: {} {}",
                    refused.code(),
                    refused.message().unwrap_or_default()
                );
                return Err(failed(event, reason.into()));
            }
        }
        Ok(())
    }
}
