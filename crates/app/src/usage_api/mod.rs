//! usage-api: the product's servers ask before they spend and record what they spent (DESIGN.md, "Usage
//! and credits"): `POST /v1/check`, `POST /v1/usage`, `POST /v1/usage/{usageId}/commit|release`,
//! `GET /v1/usage`, `GET /v1/entitlements`.
pub mod auth;
pub mod deps;
pub mod events;
pub mod limits;
pub mod request;
pub mod router;
pub mod usage;

#[cfg(test)]
mod contract_tests;
#[cfg(test)]
mod tests;
