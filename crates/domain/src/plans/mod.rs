//! The plan catalog — plans as code: which Stripe prices exist, what each plan grants (features and limits)
//! and what each one-time credit pack adds.
//!
//! The catalog is TOML (`config/plans.toml` is the built-in one, compiled in; `PLAN_CATALOG` names another
//! file). It is parsed and validated once, at cold start, so a broken catalog fails the deploy's smoke test
//! rather than a customer's request:
//!
//! ```toml
//! [limits]
//! agents = { kind = "allocated", name = "Agents", unit = { one = "agent", other = "agents" } }
//!
//! [features]                       # what a page shows for each feature a plan grants
//! sso = { name = "Single sign-on", description = "Members sign in through your identity provider." }
//!
//! [[plans]]
//! id = "free"                      # snake_case, unique among plans and packs
//! name = "Free"
//! default = true                   # exactly one plan: what a user has without a subscription; no prices
//! features = ["agents"]
//! [plans.limits]
//! agents = 1                       # a non-negative integer…
//! messages_per_day = "unlimited"   # …or "unlimited"
//!
//! [[plans]]
//! id = "starter"
//! name = "Starter"
//! contact_sales = false            # true: sold by sales, not self-serve; may then have no prices
//! [[plans.prices]]                 # recurring: `interval` is required
//! id = "price_1Starter…"           # a Stripe price id, a lookup key, or both
//! lookup_key = "starter_monthly"
//! interval = "month"               # day | week | month | year
//! amount = 4900                    # optional, display only: smallest currency unit
//! currency = "usd"                 # optional, display only
//! trial_days = 14                  # optional: a free trial, 1..=730 days
//! trial_requires_payment_method = false  # optional (default true): no card needed to start the trial
//! [plans.overage]                  # optional: usage beyond a metered limit's included amount is billed
//! messages_per_day = { unit_amount = 1, per = 100, currency = "usd" }  # 1 cent per 100 units beyond it
//!
//! [[credit_packs]]
//! id = "credits_1000"
//! name = "1,000 credits"
//! credits = 1000                   # > 0; a purchase adds credits × quantity
//! max_quantity = 10                # optional, default 1
//! [[credit_packs.prices]]          # one-time: no `interval`
//! lookup_key = "credits_1000"
//! ```
//!
//! Every price id and lookup key appears once in the whole catalog, so a reference resolves to exactly one
//! plan or pack. Unknown keys are rejected, so a typo fails loudly instead of being ignored.
//!
//! By concern: `model` (the catalog's types and lookups), `parse` (reading the TOML into them), `validate`
//! (the catalog's rules), `error` (what breaks them), `checkout` (how a price is sold) and `naming` (the
//! names Entitle gives Stripe objects: lookup keys, meter event names).
mod checkout;
mod error;
mod model;
mod naming;
mod parse;
mod validate;
mod words;

pub use checkout::CheckoutMode;
pub use error::CatalogError;
pub use model::{
    Audience, CatalogPrice, CreditPack, FeatureWords, Interval, Limit, LimitWords, Overage, Plan,
    PlanCatalog, PriceMatch, Seats, Unit,
};
pub use naming::{meter_event_name, OveragePrice};
pub use parse::PLAN_CATALOG_ENV;
pub use words::{EntitlementWords, LimitName, WithWords};

#[cfg(test)]
pub(crate) use parse::BUILTIN_TOML_FOR_TESTS;

#[cfg(test)]
mod tests;
