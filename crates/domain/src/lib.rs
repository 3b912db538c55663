//! Entitle's domain: ids, time, billing events, entitlements and their computation, the plan catalog, the
//! exactly-once protocol, ensure_customer, and the ports the functions depend on. No I/O crate: no AWS SDK,
//! hyper, rustls or lambda_* — the adapters live in `entitle-core`.
pub mod catalog_sync;
pub mod customers;
pub mod entitlements;
pub mod event;
pub mod ids;
pub mod lifecycle;
pub mod once;
pub mod plans;
pub mod ports;
pub mod queue;
pub mod time;
pub mod usage;

#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
