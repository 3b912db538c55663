//! Entitle's adapters and edge: the ports of `entitle-domain` implemented against AWS (DynamoDB, SNS, SQS,
//! Secrets Manager), Stripe and Clerk; webhook signature verification and the normalization of Stripe's
//! events; Clerk session tokens; configuration, telemetry and metrics. `edge` is the one place that speaks
//! HTTP (lambda_http), shared by the functions.
pub mod adapters;
pub mod api_error;
pub mod auth;
pub mod clerk_events;
pub mod config;
pub mod crash;
pub mod edge;
pub mod init;
pub mod metrics;
pub mod secrets;
pub mod stripe;
pub mod telemetry;
pub mod webhook;
