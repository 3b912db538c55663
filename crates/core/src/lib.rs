//! Entitle's shared core: the domain, the ports the functions depend on, the adapters that implement them
//! against AWS, webhook signature verification and configuration. No Lambda types live here.
pub mod adapters;
pub mod api_error;
pub mod config;
pub mod customers;
pub mod edge;
pub mod event;
pub mod ids;
pub mod metrics;
pub mod once;
pub mod ports;
pub mod stripe_events;
pub mod telemetry;
pub mod time;
pub mod webhook;

#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
