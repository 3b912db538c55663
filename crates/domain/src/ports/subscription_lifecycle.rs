//! The Stripe calls behind the signed-in user's own subscription buttons: cancel, resume, change plan (with
//! a preview of what the change costs).
use super::StripeError;
use crate::plans::{Plan, PlanCatalog};
use async_trait::async_trait;

/// One item of a subscription as billing-api acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemDetails {
    pub id: String,
    pub price_id: String,
    pub lookup_key: Option<String>,
    /// The price's `metadata.entitle` (the plan `entitle catalog apply` marked it with): what still names
    /// the plan of a grandfathered price, archived and its lookup key moved to a newer one.
    pub catalog_id: Option<String>,
    pub quantity: u64,
    /// On a metered price (a plan's overage, added by checkout): billed by usage, no quantity.
    pub metered: bool,
}

impl ItemDetails {
    /// A licensed item (quantity-billed), the usual kind.
    pub fn licensed(id: &str, price_id: &str, lookup_key: Option<&str>, quantity: u64) -> Self {
        Self {
            id: id.to_owned(),
            price_id: price_id.to_owned(),
            lookup_key: lookup_key.map(str::to_owned),
            catalog_id: None,
            quantity,
            metered: false,
        }
    }

    /// The catalog plan (or add-on) this item sells: by price id, else lookup key, else the price's
    /// `metadata.entitle` (as [`crate::entitlements::SubscriptionItem::plan`] resolves it for the processor).
    pub fn plan<'a>(&self, catalog: &'a PlanCatalog) -> Option<&'a Plan> {
        catalog.plan_for_item(
            &self.price_id,
            self.lookup_key.as_deref(),
            self.catalog_id.as_deref(),
        )
    }
}

/// A subscription as billing-api acts on it: its items and the dates the user sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionDetails {
    pub id: String,
    pub customer: String,
    /// Stripe's status (`active`, `trialing`, `past_due`, `canceled`, …).
    pub status: String,
    /// In Stripe's order, which means nothing: the plan item is found through the catalog.
    pub items: Vec<ItemDetails>,
    pub cancel_at_period_end: bool,
    /// Unix seconds.
    pub current_period_end: Option<i64>,
    pub trial_end: Option<i64>,
    /// `metadata.userId`, set by our checkout.
    pub user: Option<String>,
    /// The subscription schedule managing it (a plan change scheduled for the period end), if any.
    pub schedule: Option<String>,
    /// Entitle's writes to it so far (`metadata.entitleWrites`, set by each write): part of the state a
    /// derived idempotency key is made from, so that cancel → resume → cancel is three intents, not two.
    pub writes: u64,
}

/// Why a subscription has no one plan item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PlanItemError {
    #[error("no item of the subscription is on a base plan of the catalog")]
    None,
    #[error("several items of the subscription are on base plans of the catalog")]
    Several,
}

impl SubscriptionDetails {
    /// The plan item: the one licensed item whose price the catalog maps to a base plan — never found by its
    /// position (Stripe does not order items; an add-on bought in the portal may come first).
    pub fn plan_item(&self, catalog: &PlanCatalog) -> Result<&ItemDetails, PlanItemError> {
        let mut base = self
            .items
            .iter()
            .filter(|item| !item.metered && item.plan(catalog).is_some_and(|p| !p.addon));
        match (base.next(), base.next()) {
            (Some(item), None) => Ok(item),
            (None, _) => Err(PlanItemError::None),
            _ => Err(PlanItemError::Several),
        }
    }

    /// The base plan of the plan item.
    pub fn plan<'a>(&self, catalog: &'a PlanCatalog) -> Option<&'a Plan> {
        self.plan_item(catalog).ok()?.plan(catalog)
    }

    /// The licensed items on an add-on of the catalog.
    pub fn addon_items<'s>(
        &'s self,
        catalog: &'s PlanCatalog,
    ) -> impl Iterator<Item = (&'s ItemDetails, &'s Plan)> + 's {
        self.items.iter().filter_map(|item| {
            let plan = item.plan(catalog).filter(|p| p.addon && !item.metered)?;
            Some((item, plan))
        })
    }

    /// A subscription of add-ons only (bought beside a plan, or beside the free plan): not "the" subscription.
    pub fn is_addon_only(&self, catalog: &PlanCatalog) -> bool {
        self.addon_items(catalog).next().is_some() && self.plan_item(catalog).is_err()
    }

    /// Whether an item is on a metered price (a plan's overage).
    pub fn has_metered_items(&self) -> bool {
        self.items.iter().any(|item| item.metered)
    }
}

/// A price of a schedule's next phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhasePrice {
    pub price_id: String,
    pub lookup_key: Option<String>,
    pub quantity: Option<u64>,
}

/// A plan change Stripe will make at a phase boundary of the subscription's schedule: the next phase's
/// items (the plan price among them, found through the catalog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledChange {
    pub items: Vec<PhasePrice>,
    /// Unix seconds: when the new price takes over (the end of the current period).
    pub at: i64,
}

impl ScheduledChange {
    /// The base plan the next phase is on, and its price.
    pub fn plan<'a>(&self, catalog: &'a PlanCatalog) -> Option<(&'a Plan, &PhasePrice)> {
        self.items.iter().find_map(|item| {
            let plan = catalog
                .plan_for_price(&item.price_id, item.lookup_key.as_deref())
                .filter(|p| !p.addon)?;
            Some((plan, item))
        })
    }
}

/// One item of a schedule phase: a price and its quantity (`None` for a metered price).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseItem {
    pub price: String,
    pub quantity: Option<u64>,
}

/// Switching the plan item of `subscription` to another price when its current period ends, every other
/// item kept: `current` is the phase until then (the subscription's items as they are), `next` the phase
/// after (the same items, the plan item on the new price).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodEndChange<'a> {
    pub subscription: &'a str,
    /// The schedule already managing the subscription (its phases are rewritten), or `None` (one is made).
    pub schedule: Option<&'a str>,
    pub current: Vec<PhaseItem>,
    pub next: Vec<PhaseItem>,
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

/// Switching the plan item of `subscription` to `price_id`, its quantity kept; no other item is touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanChange<'a> {
    pub subscription: &'a str,
    /// The write counter to store (`metadata.entitleWrites`).
    pub writes: u64,
    pub item_id: &'a str,
    pub quantity: u64,
    pub price_id: &'a str,
    pub proration: Proration,
}

/// A seat item set to an absolute quantity: the existing one (`item_id`), or a new item on the seat price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatQuantity<'a> {
    pub subscription: &'a str,
    /// The subscription's seat item, or `None` to add one.
    pub item_id: Option<&'a str>,
    /// The per-seat price's lookup key (a new item's price; the adapter resolves its id).
    pub lookup_key: &'a str,
    pub quantity: u64,
    pub proration: Proration,
}

/// What the first invoice of a subscription starting at `start` on `items` would be: a period-end change's
/// preview (nothing is due now; the next phase's prices are billed from the period end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartPreview<'a> {
    pub customer: &'a str,
    pub items: &'a [PhaseItem],
    /// Unix seconds.
    pub start: i64,
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
    /// Sets (cancel at the period end) or clears (resume) `cancel_at_period_end`, storing `writes` as
    /// `metadata.entitleWrites`.
    async fn set_cancel_at_period_end(
        &self,
        id: &str,
        cancel: bool,
        writes: u64,
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
    /// What Stripe would invoice first for `items` from `start` (a period-end change); changes nothing.
    async fn preview_start(
        &self,
        preview: &StartPreview<'_>,
    ) -> Result<InvoicePreview, StripeError>;
    /// Sets the seat item's quantity (never a +1/−1: the absolute number), adding the item when there is none.
    async fn set_seat_quantity(
        &self,
        change: &SeatQuantity<'_>,
        idempotency_key: &str,
    ) -> Result<SubscriptionDetails, StripeError>;
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
