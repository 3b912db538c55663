//! Where a record that can never be applied goes.
use super::StoreError;
use async_trait::async_trait;

/// Where a record that can never be applied goes, with the reason, so nothing vanishes silently.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    async fn dead_letter(&self, body: &str, reason: &str) -> Result<(), StoreError>;
}
