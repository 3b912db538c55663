//! Stripe subscriptions, as the webhooks stop them.
use super::StripeError;
use crate::ids::StripeCustomerId;
use async_trait::async_trait;

/// Stripe subscriptions, as far as the webhooks need them.
#[async_trait]
pub trait StripeSubscriptions: Send + Sync {
    /// Ids of the customer's subscriptions that can still charge (not `canceled` / `incomplete_expired`).
    async fn chargeable_subscriptions(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Vec<String>, StripeError>;

    /// `at_period_end`: `POST /v1/subscriptions/{id}` `cancel_at_period_end=true`; else
    /// `DELETE /v1/subscriptions/{id}`.
    async fn cancel_subscription(
        &self,
        subscription_id: &str,
        at_period_end: bool,
        idempotency_key: &str,
    ) -> Result<(), StripeError>;
}
