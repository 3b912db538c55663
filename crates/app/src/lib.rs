//! Entitle's application layer: each function's handlers and use cases, shared by the function crates (a
//! Lambda `main` each), the CLI and the demo — no crate depends on a function crate. Each area has one
//! composition root in its `deps.rs`: `Config::from_env` (typed), then `Deps::new(config, …, aws)`.
//!
//! - [`stripe_webhook`]: verify, de-duplicate, publish the normalized `BillingEvent`.
//! - [`clerk_webhook`]: verify (Svix), de-duplicate, keep the user's Stripe customer in sync.
//! - [`billing_api`]: the signed-in user's Checkout, portal, entitlements, usage and subscription changes.
//! - [`usage_api`]: the product's servers check, consume, hold and commit limits and credits.
//! - [`processor`]: billing events and the processor's own work in, entitlements out.
//!
//! And the use cases more than one of them (or the CLI) run: [`customers`] (a user's Stripe customer kept in
//! step with Clerk) and [`catalog`] (the plan catalog synced to Stripe).
pub mod billing_api;
pub mod catalog;
pub mod clerk_webhook;
pub mod customers;
pub mod history;
pub mod processor;
pub mod stripe_webhook;
pub mod usage_api;
