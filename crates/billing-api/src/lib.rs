//! billing-api: the signed-in user's Checkout, billing portal and entitlements.
pub mod checkout;
pub mod cors;
pub mod deps;
pub mod entitlements;
pub mod portal;
pub mod redirect;
pub mod router;

#[cfg(test)]
mod tests;
