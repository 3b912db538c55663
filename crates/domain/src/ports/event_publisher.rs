//! The billing-events topic.
use super::PublishError;
use crate::event::BillingEvent;
use async_trait::async_trait;

#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, event: &BillingEvent) -> Result<(), PublishError>;

    /// Publishes several events, in one request where the topic allows it. On an error some may have been
    /// published: the caller retries them all, and subscribers de-duplicate by event id.
    async fn publish_all(&self, events: &[BillingEvent]) -> Result<(), PublishError> {
        for event in events {
            self.publish(event).await?;
        }
        Ok(())
    }
}
