//! Stripe customers, as the Clerk webhook keeps them.
use super::StripeError;
use crate::ids::{StripeCustomerId, SubjectId};
use async_trait::async_trait;

/// What Entitle keeps in sync on a user's Stripe customer.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CustomerProfile {
    pub email: Option<String>,
    pub name: Option<String>,
}

/// Stripe customers. Every write carries an idempotency key.
#[async_trait]
pub trait StripeCustomers: Send + Sync {
    /// `POST /v1/customers` with only `metadata[clerkUserId]`, so every retry under the same key sends the
    /// same parameters (Stripe rejects a reused key with different ones).
    async fn create_customer(
        &self,
        user: &SubjectId,
        idempotency_key: &str,
    ) -> Result<StripeCustomerId, StripeError>;

    /// `POST /v1/customers/{id}` with the profile's email and name (a `None` field is left unchanged).
    async fn update_customer(
        &self,
        customer: &StripeCustomerId,
        profile: &CustomerProfile,
        idempotency_key: &str,
    ) -> Result<(), StripeError>;
}
