//! The billing-events topic.
use super::PublishError;
use crate::event::BillingEvent;
use async_trait::async_trait;

#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, event: &BillingEvent) -> Result<(), PublishError>;
}
