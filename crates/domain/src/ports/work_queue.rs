//! Work the processor hands to itself: messages on its own queue, each processed by whichever instance
//! receives it (a full reconcile fans out one message per user).
use super::StoreError;
use async_trait::async_trait;

#[async_trait]
pub trait WorkQueue: Send + Sync {
    /// Sends every body; `Err` when any was not accepted (the caller's retry sends them again: the work is
    /// idempotent).
    async fn enqueue(&self, bodies: &[String]) -> Result<(), StoreError>;
}
