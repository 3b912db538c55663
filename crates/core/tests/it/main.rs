//! entitle-core's integration tests, one binary: the AWS adapters against the local AWS emulator (real SDK,
//! the template's own resources), and the Stripe, Clerk and JWKS clients against local HTTP stand-ins.
mod auth;
mod clerk_client;
mod event_log;
mod helpers;
mod publisher;
mod secrets;
mod stripe_client;
