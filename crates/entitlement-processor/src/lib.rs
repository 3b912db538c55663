//! The entitlement processor: billing events (SQS batches) in, entitlements out — plus the hourly sweep of
//! lapsing plans and on-demand reconciles.
pub mod apply;
pub mod deps;
pub mod handler;
pub mod maintenance;
pub mod overage;
pub mod publish;
