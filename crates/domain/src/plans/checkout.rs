//! Checkout rules: what a price reference resolves to, and how Stripe Checkout sells it.
use super::model::{CatalogPrice, PriceMatch};

/// The Stripe Checkout `mode` a price is sold with (the one the checkout port takes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutMode {
    Subscription,
    Payment,
}

impl CheckoutMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutMode::Subscription => "subscription",
            CheckoutMode::Payment => "payment",
        }
    }
}

impl<'a> PriceMatch<'a> {
    pub fn price(&self) -> &'a CatalogPrice {
        match self {
            PriceMatch::Subscription { price, .. } | PriceMatch::CreditPack { price, .. } => price,
        }
    }

    /// Plans are subscriptions; credit packs are one-time payments.
    pub fn checkout_mode(&self) -> CheckoutMode {
        match self {
            PriceMatch::Subscription { .. } => CheckoutMode::Subscription,
            PriceMatch::CreditPack { .. } => CheckoutMode::Payment,
        }
    }

    /// The most units one checkout may buy: a plan is bought once, a pack up to its `max_quantity`.
    pub fn max_quantity(&self) -> u32 {
        match self {
            PriceMatch::Subscription { .. } => 1,
            PriceMatch::CreditPack { pack, .. } => pack.max_quantity,
        }
    }

    /// Whether a customer may buy this through self-serve checkout (not a `contact_sales` plan).
    pub fn self_serve(&self) -> bool {
        match self {
            PriceMatch::Subscription { plan, .. } => !plan.contact_sales,
            PriceMatch::CreditPack { .. } => true,
        }
    }
}
