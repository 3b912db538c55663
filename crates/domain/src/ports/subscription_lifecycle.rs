//! The Stripe calls behind the signed-in user's own subscription buttons: cancel, resume, change plan (with
//! a preview of what the change costs).
use super::StripeError;
use async_trait::async_trait;

/// A subscription as billing-api acts on it: its one plan item and the dates the user sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionDetails {
    pub id: String,
    pub customer: String,
    /// Stripe's status (`active`, `trialing`, `past_due`, `canceled`, …).
    pub status: String,
    /// The plan item: the first item on a licensed (not metered) price.
    pub item_id: String,
    /// The items on metered prices (a plan's overage, added by checkout).
    pub metered_items: Vec<String>,
    pub price_id: String,
    pub lookup_key: Option<String>,
    /// The price's `metadata.entitle` (the plan `entitle catalog apply` marked it with): what still names
    /// the plan of a grandfathered price, archived and its lookup key moved to a newer one.
    pub catalog_id: Option<String>,
    pub cancel_at_period_end: bool,
    /// Unix seconds.
    pub current_period_end: Option<i64>,
    pub trial_end: Option<i64>,
    /// `metadata.userId`, set by our checkout.
    pub user: Option<String>,
    /// The subscription schedule managing it (a plan change scheduled for the period end), if any.
    pub schedule: Option<String>,
}

impl SubscriptionDetails {
    /// The catalog plan of the plan item: by price id, else lookup key, else the price's `metadata.entitle`
    /// (as [`crate::entitlements::SubscriptionItem::plan`] resolves it for the processor).
    pub fn plan<'a>(
        &self,
        catalog: &'a crate::plans::PlanCatalog,
    ) -> Option<&'a crate::plans::Plan> {
        catalog
            .plan_for_price(&self.price_id, self.lookup_key.as_deref())
            .or_else(|| catalog.plan(self.catalog_id.as_deref()?))
    }
}

/// A plan change Stripe will make at a phase boundary of the subscription's schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledChange {
    pub price_id: String,
    pub lookup_key: Option<String>,
    /// Unix seconds: when the new price takes over (the end of the current period).
    pub at: i64,
}

/// Switching the plan item of `subscription` to `price_id` when its current period ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodEndChange<'a> {
    pub subscription: &'a str,
    /// The schedule already managing the subscription (its phases are rewritten), or `None` (one is made).
    pub schedule: Option<&'a str>,
    pub current_price: &'a str,
    pub price_id: &'a str,
}

/// How Stripe bills the difference of a plan change (its `proration_behavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proration {
    CreateProrations,
    None,
    AlwaysInvoice,
}

impl Proration {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "create_prorations" => Some(Self::CreateProrations),
            "none" => Some(Self::None),
            "always_invoice" => Some(Self::AlwaysInvoice),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateProrations => "create_prorations",
            Self::None => "none",
            Self::AlwaysInvoice => "always_invoice",
        }
    }
}

/// Ending a subscription now rather than at the period end, with Stripe's two options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CancelNow {
    /// Credit the unused time of the period.
    pub prorate: bool,
    /// Invoice pending usage and prorations at once.
    pub invoice_now: bool,
}

/// Switching the plan item of `subscription` to `price_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanChange<'a> {
    pub subscription: &'a str,
    pub item_id: &'a str,
    pub price_id: &'a str,
    pub proration: Proration,
}

/// The invoice Stripe would issue for a plan change, made from its invoice preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoicePreview {
    pub currency: String,
    /// What the invoice would ask the customer to pay (after credits and balance).
    pub amount_due: i64,
    pub total: i64,
    /// Unix seconds: when the previewed invoice would be issued (`None`: now).
    pub next_payment_attempt: Option<i64>,
    pub lines: Vec<PreviewLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewLine {
    pub description: Option<String>,
    pub amount: i64,
    /// A credit or charge for the part of the period the change touches.
    pub proration: bool,
}

/// The Stripe calls behind the subscription routes. Every write takes an idempotency key.
#[async_trait]
pub trait SubscriptionLifecycle: Send + Sync {
    /// `None` when Stripe has no such subscription.
    async fn subscription(&self, id: &str) -> Result<Option<SubscriptionDetails>, StripeError>;
    /// The customer's subscriptions of any status, newest first.
    async fn subscriptions(&self, customer: &str) -> Result<Vec<SubscriptionDetails>, StripeError>;
    /// Sets (cancel at the period end) or clears (resume) `cancel_at_period_end`.
    async fn set_cancel_at_period_end(
        &self,
        id: &str,
        cancel: bool,
        idempotency_key: &str,
    ) -> Result<SubscriptionDetails, StripeError>;
    /// Ends the subscription now.
    async fn cancel_now(
        &self,
        id: &str,
        options: CancelNow,
        idempotency_key: &str,
    ) -> Result<SubscriptionDetails, StripeError>;
    /// What Stripe would invoice for `change`; changes nothing.
    async fn preview_plan_change(
        &self,
        change: &PlanChange<'_>,
    ) -> Result<InvoicePreview, StripeError>;
    /// Switches the plan item's price.
    async fn change_plan(
        &self,
        change: &PlanChange<'_>,
        idempotency_key: &str,
    ) -> Result<SubscriptionDetails, StripeError>;
    /// The change `schedule` will make next, `None` when it makes none (or was released).
    async fn scheduled_change(
        &self,
        schedule: &str,
    ) -> Result<Option<ScheduledChange>, StripeError>;
    /// Schedules the switch for the end of the current period, through a subscription schedule: the
    /// current phase ends with the period, the next one is on the new price, then the schedule releases
    /// the subscription.
    async fn schedule_plan_change(
        &self,
        change: &PeriodEndChange<'_>,
        idempotency_key: &str,
    ) -> Result<ScheduledChange, StripeError>;
    /// Releases `schedule`: the subscription stays as it is now, the pending change is dropped.
    async fn release_schedule(
        &self,
        schedule: &str,
        idempotency_key: &str,
    ) -> Result<(), StripeError>;
}
