//! billing-api: the signed-in user's Checkout, billing portal, entitlements, usage and subscription (cancel,
//! resume, change).
pub mod answer;
pub mod caller;
pub mod checkout;
pub mod cors;
pub mod deps;
pub mod entitlements;
pub mod idempotency;
pub mod plans;
pub mod portal;
pub mod redirect;
pub mod router;
pub mod subscription;
pub mod usage;

#[cfg(test)]
mod tests;
