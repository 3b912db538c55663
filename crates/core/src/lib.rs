//! Entitle's shared core: the domain, the ports the functions depend on, the adapters that implement them
//! against AWS, webhook signature verification and configuration. The domain modules know nothing of Lambda;
//! `edge` is the one place that speaks HTTP (lambda_http), shared by the functions.
pub mod adapters;
pub mod api_error;
pub mod auth;
pub mod config;
pub mod customers;
pub mod edge;
pub mod entitlements;
pub mod event;
pub mod ids;
pub mod metrics;
pub mod once;
pub mod plans;
pub mod ports;
pub mod stripe_events;
pub mod telemetry;
pub mod time;
pub mod usage;
pub mod usage_port;
pub mod webhook;

#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
#[cfg(any(test, feature = "fakes"))]
pub mod fakes_usage;
