//! `EventPublisher` on SNS: the event as the JSON body, `type` and `source` as message attributes so
//! subscribers can filter.
use super::sdk_error;
use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;
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
}
