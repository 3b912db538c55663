//! The Stripe calls behind billing-api: prices, Checkout and the billing portal.
use super::StripeError;
use crate::ids::{StripeCustomerId, SubjectId};
use crate::plans::CheckoutMode;
use async_trait::async_trait;

/// A Stripe Checkout session to create for a signed-in user.
#[derive(Debug, Clone)]
pub struct CheckoutRequest<'a> {
    pub user: &'a SubjectId,
    pub customer: &'a StripeCustomerId,
    pub mode: CheckoutMode,
    pub price_id: &'a str,
    pub quantity: u32,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    pub allow_promotion_codes: bool,
    /// A free trial for a subscription checkout, as the catalog's price says.
    pub trial: Option<Trial>,
    /// A seat plan's per-seat price and quantity (the organization's seats beyond the included ones).
    pub seats: Option<SeatLine<'a>>,
}

/// The seat item a team plan's checkout starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatLine<'a> {
    pub price_id: &'a str,
    pub quantity: u64,
}

/// A subscription's free trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trial {
    pub days: u32,
    /// `false`: Checkout collects a payment method only if required, and a trial that ends without one is
    /// canceled.
    pub requires_payment_method: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    pub id: String,
    pub url: String,
}

/// The Stripe calls behind billing-api.
#[async_trait]
pub trait StripeBilling: Send + Sync {
    /// The price id behind a lookup key, `None` when Stripe has no such active price.
    async fn price_for_lookup_key(&self, lookup_key: &str) -> Result<Option<String>, StripeError>;
    /// The customer's subscriptions that are `active`, `trialing` or `past_due`, newest first.
    async fn live_subscriptions(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Vec<crate::entitlements::SubscriptionState>, StripeError>;
    async fn create_checkout_session(
        &self,
        request: &CheckoutRequest<'_>,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        self.create_checkout_session_with_metered(request, &[], idempotency_key)
            .await
    }
    /// A checkout that also subscribes to `metered_price_ids` (the plan's overage, billed from Stripe meters):
    /// extra line items without a quantity, as Stripe wants metered prices.
    async fn create_checkout_session_with_metered(
        &self,
        request: &CheckoutRequest<'_>,
        metered_price_ids: &[String],
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError>;
    /// The billing portal session's URL, on Entitle's own portal configuration (never the account's
    /// default: a fresh account has none, and `entitle setup` never rewrites it).
    async fn create_portal_session(
        &self,
        customer: &StripeCustomerId,
        return_url: &str,
        configuration: &str,
        idempotency_key: &str,
    ) -> Result<String, StripeError>;
    /// The active portal configuration `entitle setup` made (`metadata.entitle = "setup"`), if any.
    async fn setup_portal_configuration(&self) -> Result<Option<String>, StripeError>;
}
