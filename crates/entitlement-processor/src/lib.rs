//! The entitlement processor: billing events (SQS batches) in, entitlements out — plus the hourly sweep of
//! lapsing plans and on-demand reconciles. The use cases live in `entitle_app::processor`; this crate is the
//! Lambda's entry (the invocation's shapes, partial batch responses, dead-lettering).
pub mod handler;

pub use entitle_app::processor::{apply, deps, maintenance, overage, publish};
