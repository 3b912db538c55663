//! stripe-webhook, the Lambda function: its handler is `entitle_app::stripe_webhook`, re-exported here for
//! `main` and the integration tests.
pub use entitle_app::stripe_webhook::*;
