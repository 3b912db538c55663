//! Work the processor hands to itself: messages on its own queue, each processed by whichever instance
//! receives it (a full reconcile fans out one message per user).
use super::StoreError;
use async_trait::async_trait;

#[async_trait]
pub trait WorkQueue: Send + Sync {
    /// Sends every body; `Err` when any was not accepted (the caller's retry sends them again: the work is
    /// idempotent).
    async fn enqueue(&self, bodies: &[String]) -> Result<(), StoreError> {
        let delayed: Vec<(String, u32)> = bodies.iter().map(|b| (b.clone(), 0)).collect();
        self.enqueue_delayed(&delayed).await
    }
    /// Sends every `(body, delay in seconds)`: a message is not received before its delay (at most 900 s,
    /// SQS's limit), so that work fanned out is paced.
    async fn enqueue_delayed(&self, messages: &[(String, u32)]) -> Result<(), StoreError>;
}
