//! `DeadLetters` on SQS: the record's body, unchanged, with the reason as a message attribute.
use super::sdk_error;
use async_trait::async_trait;
use aws_sdk_sqs::types::MessageAttributeValue;
use entitle_domain::ports::{DeadLetters, StoreError};

pub struct SqsDeadLetters {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDeadLetters {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl DeadLetters for SqsDeadLetters {
    async fn dead_letter(&self, body: &str, reason: &str) -> Result<(), StoreError> {
        let reason: String = reason.chars().take(1000).collect();
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason)
            .build()
            .map_err(|e| StoreError::new("dead-letter", e))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_attributes("reason", attribute)
            .send()
            .await
            .map_err(|e| StoreError::new("dead-letter", sdk_error(e)))?;
        Ok(())
    }
}
