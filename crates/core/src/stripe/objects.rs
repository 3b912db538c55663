//! The fields of Stripe's API objects that the adapters read: what async-stripe's typed requests' answers are
//! parsed into (`answer_as::<Subscription>(&RetrieveSubscription::new(…))`). Hand-written rather than
//! async-stripe's response types because theirs parse every field, and their expandable ones (a
//! subscription's `customer`, `latest_invoice`, `default_payment_method`, …) reach most of Stripe's object
//! graph: that parsing code was most of each Stripe-calling function's binary. miniserde skips every field not
//! named here; the names and types are Stripe's (API version [`STRIPE_VERSION`]).
//!
//! [`STRIPE_VERSION`]: super::client::STRIPE_VERSION
use miniserde::json::Value;
use miniserde::Deserialize;
use std::collections::HashMap;

/// A page of a list.
#[derive(Deserialize)]
pub(crate) struct List<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

/// An object whose answer we only check for its id (a customer, a canceled subscription…).
#[derive(Deserialize)]
pub(crate) struct Object {
    pub id: String,
}

#[derive(Deserialize)]
pub(crate) struct Subscription {
    pub id: String,
    /// The customer's id, or the customer object when expanded: see [`expandable_id`].
    pub customer: Value,
    /// `active`, `trialing`, `past_due`, `canceled`, `incomplete_expired`, …
    pub status: String,
    pub items: List<SubscriptionItem>,
    pub cancel_at_period_end: bool,
    /// Unix seconds.
    pub trial_end: Option<i64>,
    pub metadata: HashMap<String, String>,
    /// The subscription schedule managing it (an id, or the schedule when expanded), or null.
    pub schedule: Option<Value>,
}

#[derive(Deserialize)]
pub(crate) struct SubscriptionItem {
    pub id: String,
    pub price: Price,
    /// Unix seconds. Since 2025-03-31 the period lives on the items.
    pub current_period_end: i64,
    pub quantity: Option<u64>,
}

#[derive(Deserialize)]
pub(crate) struct Price {
    pub id: String,
    pub lookup_key: Option<String>,
    /// `entitle` = the catalog id `entitle catalog apply` marked the price with.
    pub metadata: Option<HashMap<String, String>>,
    pub recurring: Option<PriceRecurring>,
}

#[derive(Deserialize)]
pub(crate) struct PriceRecurring {
    /// `licensed` (a quantity is billed) or `metered` (a meter's usage is billed: overage).
    pub usage_type: Option<String>,
}

impl Price {
    /// A metered price: billed on a meter's usage (an overage price), not a plan's own price.
    pub fn is_metered(&self) -> bool {
        self.recurring
            .as_ref()
            .and_then(|r| r.usage_type.as_deref())
            == Some("metered")
    }
}

/// A customer, or the stub Stripe answers for a deleted one (`"deleted": true`, no metadata).
#[derive(Deserialize)]
pub(crate) struct Customer {
    pub deleted: Option<bool>,
    pub metadata: Option<HashMap<String, String>>,
}

/// A line of a Checkout session.
#[derive(Deserialize)]
pub(crate) struct LineItem {
    pub price: Option<Price>,
    pub quantity: Option<u64>,
}

#[derive(Deserialize)]
pub(crate) struct CheckoutSession {
    pub id: String,
    pub url: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct PortalSession {
    pub url: String,
}

#[derive(Deserialize)]
pub(crate) struct Invoice {
    pub currency: String,
    pub amount_due: i64,
    pub total: i64,
    /// Unix seconds.
    pub next_payment_attempt: Option<i64>,
    pub lines: List<InvoiceLine>,
}

#[derive(Deserialize)]
pub(crate) struct InvoiceLine {
    pub description: Option<String>,
    pub amount: i64,
    pub parent: Option<InvoiceLineParent>,
}

/// What the line bills: one of the two is set.
#[derive(Deserialize)]
pub(crate) struct InvoiceLineParent {
    pub subscription_item_details: Option<Proration>,
    pub invoice_item_details: Option<Proration>,
}

#[derive(Deserialize)]
pub(crate) struct Proration {
    pub proration: bool,
}

/// The id of an expandable field: the string itself, or the `id` of the expanded object.
pub(crate) fn expandable_id(value: &Value) -> Option<&str> {
    match value {
        Value::String(id) => Some(id),
        Value::Object(object) => match object.get("id") {
            Some(Value::String(id)) => Some(id),
            _ => None,
        },
        _ => None,
    }
}

/// Subscription statuses that can never charge again.
pub(crate) fn ended(status: &str) -> bool {
    matches!(status, "canceled" | "incomplete_expired")
}
