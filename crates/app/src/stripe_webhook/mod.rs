//! The Stripe webhook function: verify, de-duplicate, publish.
pub mod deps;
pub mod handler;
