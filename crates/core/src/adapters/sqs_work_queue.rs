//! `WorkQueue` on SQS: `SendMessageBatch`, ten bodies a call, each with its `DelaySeconds` (pacing).
use super::sdk_error;
use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use entitle_domain::ports::{StoreError, WorkQueue};

pub struct SqsWorkQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsWorkQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl WorkQueue for SqsWorkQueue {
    async fn enqueue_delayed(&self, messages: &[(String, u32)]) -> Result<(), StoreError> {
        for chunk in messages.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, (body, delay))| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .set_delay_seconds((*delay > 0).then(|| (*delay).min(900) as i32))
                        .build()
                        .map_err(|e| StoreError::new("enqueue work", e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| StoreError::new("enqueue work", sdk_error(e)))?;
            if let Some(failed) = out.failed().first() {
                return Err(StoreError::new(
                    "enqueue work",
                    format!(
                        "SQS refused {} of {} messages: {}",
                        out.failed().len(),
                        chunk.len(),
                        failed.message().unwrap_or(failed.code())
                    ),
                ));
            }
        }
        Ok(())
    }
}
