//! Stripe's current state, read by the processor.
use super::StripeError;
use crate::entitlements::SubscriptionState;
use crate::ids::{StripeCustomerId, SubjectId};
use async_trait::async_trait;

/// `(price id, lookup key, quantity)` of a Checkout line.
pub type LineItem = (String, Option<String>, u64);

/// Stripe's current state, read before applying an event (so the result does not depend on the order events
/// arrive in).
#[async_trait]
pub trait StripeReader: Send + Sync {
    /// `None` when Stripe has no such subscription.
    async fn subscription(&self, id: &str) -> Result<Option<SubscriptionState>, StripeError>;
    /// The customer's subscriptions, newest first.
    async fn customer_subscriptions(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Vec<SubscriptionState>, StripeError>;
    /// The `clerkUserId` in the customer's metadata.
    async fn customer_user(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Option<SubjectId>, StripeError>;
    /// Each line of a Checkout session.
    async fn checkout_line_items(&self, session_id: &str) -> Result<Vec<LineItem>, StripeError>;
}
